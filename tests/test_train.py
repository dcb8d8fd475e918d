"""End to end on the tiny backbone: train → evaluate → predict → report, resume, determinism, DDP, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kornews import Classifier, config, folds, loop, modeling
from kornews.cli import main
from kornews.errors import KornewsError

from conftest import SHARED

real_cache_prefix = modeling.cache_prefix

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


@pytest.fixture(scope="session")
def tiny_run(slices, tiny_backbone, tmp_path_factory, tiny_cfg):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    loop.train(tiny_cfg(), run, progress=False, log=lambda s: None)
    return run


def test_run_directory_describes_itself(tiny_run):
    for name in ("config.yaml", "model/config.json", "model/model.safetensors", "model/tokenizer.json",
                 "metrics.jsonl", "metrics.csv", "final.json", "env.json"):
        assert (tiny_run / name).is_file(), name
    assert not (tiny_run / "checkpoint").exists()  # removed once training ends
    cfg = json.loads((tiny_run / "model" / "config.json").read_text())
    assert sorted(cfg["label2id"]) == ["culture", "economy", "entertain", "international", "it", "politics",
                                       "society", "sport"]
    assert cfg["kornews"]["mode"] == 3 and cfg["kornews"]["max_len"] == 48
    history = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "test_acc", "lr"} <= set(history[0])
    final = json.loads((tiny_run / "final.json").read_text())
    best = min(history, key=lambda r: r["val_loss"])
    assert final["best_epoch"] == best["epoch"] and final["test_acc"] == best["test_acc"]
    assert json.loads((tiny_run / "env.json").read_text())["seed"] == 42


def test_model_loads_with_plain_transformers(tiny_run):
    import torch
    model = AutoModelForSequenceClassification.from_pretrained(tiny_run / "model", dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(tiny_run / "model")
    clf = Classifier.load(tiny_run, engine="torch-fp32")
    article = {"title": "국회 본회의 예산안 처리", "body": "여야가 예산안을 두고 대립했다."}
    enc = tok(article["title"], article["body"], return_tensors="pt")
    with torch.no_grad():
        plain = torch.softmax(model(**enc).logits, -1).numpy()[0]
    np.testing.assert_allclose(clf.predict_proba([article])[0], plain, atol=1e-5)
    assert clf.predict([article])[0] in clf.labels and clf.engine.name == "torch-fp32"
    # the default engine (bf16 where the CPU has bf16 units) agrees within bf16's precision
    np.testing.assert_allclose(Classifier.load(tiny_run).predict_proba([article])[0], plain, atol=2e-2)


def test_evaluate_then_report_rebuilds_without_model(tiny_run, slices, capsys):
    assert main(["evaluate", str(tiny_run), str(slices / "test.csv"), "--quiet"]) == 0
    assert "Accuracy" in capsys.readouterr().out
    preds = pd.read_csv(tiny_run / "predictions.csv", dtype=str)
    test = pd.read_csv(slices / "test.csv", dtype=str)
    assert preds["id"].tolist() == test["id"].tolist() and (preds["label"] == test["category"]).all()
    report = json.loads((tiny_run / "report.json").read_text())
    assert report["accuracy"] == pytest.approx((preds["label"] == preds["pred"]).mean())
    assert np.array(report["confusion"]).sum() == len(test)
    for png in ("plots/confusion.png", "plots/learning_curves.png"):
        assert (tiny_run / png).read_bytes()[:4] == b"\x89PNG"
    # report rebuilds from predictions.csv alone: hide the weights to prove no model is loaded
    (tiny_run / "report.md").unlink()
    weights = tiny_run / "model" / "model.safetensors"
    weights.rename(weights.with_suffix(".hidden"))
    try:
        assert main(["report", str(tiny_run)]) == 0
    finally:
        weights.with_suffix(".hidden").rename(weights)
    assert "| society |" in (tiny_run / "report.md").read_text()


def test_predict_csv_jsonl_and_stdin(tiny_run, slices, tmp_path, capsys, monkeypatch):
    src = pd.read_csv(slices / "test.csv", dtype=str).drop(columns=["category"]).head(5)
    src["id"] = [f"a{i}" for i in range(5)]
    src.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(tiny_run), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 0
    out = pd.read_csv(tmp_path / "p.csv")
    clf = Classifier.load(tiny_run)
    assert out["id"].tolist() == src["id"].tolist()
    assert out["pred"].tolist() == clf.predict([{"title": t, "body": b} for t, b in zip(src.title, src.cleanBody)])
    probs = out[[f"p_{lab}" for lab in clf.labels]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)
    assert main(["predict", str(tiny_run), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["pred"] for r in rows] == out["pred"].tolist()
    capsys.readouterr()
    lines = "".join(json.dumps({"id": i, "title": t, "cleanBody": b}, ensure_ascii=False) + "\n"
                    for i, t, b in zip(src.id, src.title, src.cleanBody))
    monkeypatch.setattr(sys, "stdin", __import__("io").TextIOWrapper(__import__("io").BytesIO(lines.encode())))
    assert main(["predict", str(tiny_run), "-", "--format", "jsonl"]) == 0
    stdout_rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["pred"] for r in stdout_rows] == out["pred"].tolist()


def test_same_seed_same_metrics(slices, tiny_backbone, tmp_path, tiny_cfg):
    cfg = tiny_cfg(epochs=1, test=None)
    a = loop.train(cfg, tmp_path / "a", progress=False, log=lambda s: None)
    b = loop.train(cfg, tmp_path / "b", progress=False, log=lambda s: None)
    assert a["val_loss"] == b["val_loss"] and a["val_acc"] == b["val_acc"]
    c = loop.train(tiny_cfg(epochs=1, test=None, seed=7), tmp_path / "c",
                        progress=False, log=lambda s: None)
    assert c["val_loss"] != a["val_loss"]


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "kornews.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_resume_after_kill_matches_uninterrupted_run(slices, tiny_backbone, tmp_path, tiny_run, capsys):
    overrides = [f"--train={slices / 'train.csv'}", f"--test={slices / 'test.csv'}", f"--backbone={tiny_backbone}",
                 "--max_len=48", "--epochs=2", "--batch_size=16", "--lr=5e-4", "--val_fraction=0.25",
                 "--threads=1", "--freeze_layers=0", "--long_strategy=head"]
    run = tmp_path / "killed"
    proc = _cli("train", "--quiet", "--out", str(run), *overrides)
    deadline = time.time() + 120
    while not (run / "checkpoint" / "state.pt").exists():  # the first epoch is safely on disk
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "final.json").exists()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert f"resuming {run} after epoch 1" in capsys.readouterr().out
    resumed = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(reference)
    assert main(["train", "--resume", str(run)]) == 2  # nothing left to resume


@pytest.mark.parametrize("mode, kill_at", [(3, "[Epoch 1 Batch 2/"), (5, "[Epoch 2 Batch 2/")])
def test_resume_after_kill_mid_epoch(mode, kill_at, slices, tiny_backbone, tmp_path, capsys):
    """Killed in the middle of an epoch (the first: nothing saved yet; or the second), then resumed: the metrics
    are those of an uninterrupted run, for a plain and a mode 5 run."""
    overrides = [f"--train={slices / 'train.csv'}", f"--test={slices / 'test.csv'}", f"--backbone={tiny_backbone}",
                 "--max_len=32", "--epochs=2", "--batch_size=4", "--lr=5e-4", "--val_fraction=0.25",
                 "--threads=1", "--freeze_layers=0", "--long_strategy=head", "--log_every=2", f"--mode={mode}",
                 "--clusters.k=3"]
    assert main(["train", "--quiet", "--out", str(tmp_path / "reference"), *overrides]) == 0
    run = tmp_path / "killed"
    proc = _cli("train", "--quiet", "--out", str(run), *overrides, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if line.startswith(kill_at):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    history = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").exists() else []
    assert len(history) == (0 if "Epoch 1" in kill_at else 1)  # killed before that epoch ended
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    read = lambda r: [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"}  # noqa: E731
                      for line in (r / "metrics.jsonl").read_text().splitlines()]
    assert read(run) == read(tmp_path / "reference")


def test_tests_write_to_a_temporary_home(kornews_home, tiny_run):
    from kornews import files
    assert files.home() == kornews_home and any((kornews_home / "tokens").iterdir())


def test_two_process_ddp(slices, tiny_backbone, tmp_path):
    """As the default recipe trains: the bottom layer frozen and its output cached."""
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         "-m", "kornews.cli", "train", "--quiet", "--out", str(run), f"--train={slices / 'train.csv'}",
         "--test=null", f"--backbone={tiny_backbone}", "--max_len=48", "--epochs=1", "--batch_size=8",
         "--val_fraction=0.25", "--threads=1", "--freeze_layers=1", "--cache_frozen=true"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ranks agree" in proc.stdout
    assert proc.stdout.count("run: ") == 1  # only rank 0 reports and writes
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp")]


@pytest.mark.parametrize("args, message", [
    (["train", "--lr=-1"], "config: lr must be positive"),
    (["train", "--learning_rate=1"], "unknown key 'learning_rate'"),
    (["train", "--epochs=1.5"], "config: epochs must be int"),
    (["train", "--epochs", "3"], "config: expected --key=value, got '--epochs'"),
    (["train", "--threads=0"], "config: threads must be at least 1"),
    (["train", "--backbone=/nonexistent/dir/model"], "unknown backbone '/nonexistent/dir/model'"),
    (["train", "--backbone=no-such-model"], "unknown backbone 'no-such-model'"),
    (["evaluate", "/nonexistent/run", "knews8:test"], "run directory not found"),
])
def test_bad_input_cli(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("kornews: error:")


def test_max_len_above_model_limit(slices, tiny_backbone, tmp_path, tiny_cfg):
    with pytest.raises(KornewsError, match="config: max_len 600 exceeds the limit of 512 positions"):
        loop.train(tiny_cfg(max_len=600), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_run_directory_missing_files(tiny_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    assert main(["predict", str(broken), "knews8:test"]) == 2
    assert "missing: model/config.json" in capsys.readouterr().err
    assert main(["report", str(broken)]) == 2
    assert "missing: predictions.csv" in capsys.readouterr().err


def test_predict_data_lacking_columns(tiny_run, tmp_path, capsys):
    (tmp_path / "x.csv").write_text("foo,bar\n제목,본문\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["predict", str(tiny_run), str(tmp_path / "x.csv"), "-o", str(out)]) == 2
    assert "missing column" in capsys.readouterr().err and not out.exists()


def test_out_dir_not_overwritten(tiny_run, slices, tiny_backbone, tiny_cfg):
    before = (tiny_run / "metrics.jsonl").read_text()
    with pytest.raises(KornewsError, match="exists and is not empty"):
        loop.train(tiny_cfg(), tiny_run, progress=False)
    assert (tiny_run / "metrics.jsonl").read_text() == before


@pytest.mark.parametrize("cache_frozen", [True, False])
def test_frozen_layers_stay_frozen_and_top_trains(slices, tiny_backbone, tmp_path, cache_frozen, monkeypatch, tiny_cfg):
    cfg = tiny_cfg(epochs=1, test=None, freeze_layers=1, cache_frozen=cache_frozen)
    calls = []
    monkeypatch.setattr(modeling, "cache_prefix", lambda *a, **k: calls.append(1) or real_cache_prefix(*a, **k))
    loop.train(cfg, tmp_path / "f", progress=False, log=lambda s: None)
    assert len(calls) == (2 if cache_frozen else 0)  # train and val, computed once
    import torch
    from safetensors.torch import load_file
    before, after = load_file(tiny_backbone / "model.safetensors"), load_file(tmp_path / "f/model/model.safetensors")
    bottom, top = "encoder.layer.0.attention.self.query.weight", "encoder.layer.1.attention.self.query.weight"
    stored = before[bottom].to(torch.bfloat16)  # runs store their weights in bf16
    assert torch.equal(stored, after["bert." + bottom])
    assert not torch.equal(before[top].to(torch.bfloat16), after["bert." + top])


@pytest.mark.slow
def test_full_backbone_learns_knews8_titles(tmp_path):
    """The real me5-small on all of knews8's titles: one short epoch must land far above chance (1/8)."""
    cfg = config.load(base={"mode": 2, "test": "knews8:test", "max_len": 32, "epochs": 2, "batch_size": 32,
                            "lr": 3e-4, "freeze_layers": 8})
    final = loop.train(cfg, tmp_path / "run", progress=False, log=lambda s: None)
    assert final["test_acc"] > 0.6, final


def test_kept_model_is_the_last_improvement(slices, tiny_backbone, tmp_path, tiny_cfg):
    """With a min_delta no epoch can beat, epoch 1 stays the kept model even if later losses are lower."""
    final = loop.train(tiny_cfg(test=None, min_delta=100.0, patience=5), tmp_path / "r",
                            progress=False, log=lambda s: None)
    history = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert final["best_epoch"] == 1 and final["val_loss"] == history[0]["val_loss"]
    assert [r["best"] for r in history] == [True, False]


def test_too_small_validation_split(slices, tiny_backbone, tmp_path, tiny_cfg):
    with pytest.raises(KornewsError, match="val_fraction=0.01 leaves no validation articles"):
        loop.train(tiny_cfg(val_fraction=0.01), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_backbone_without_tokenizer(slices, tiny_backbone, tmp_path, tiny_cfg):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):  # weights, but no tokenizer files
        (bare / name).write_bytes((tiny_backbone / name).read_bytes())
    with pytest.raises(KornewsError, match="tokenizer of .*bare.* cannot be loaded: no tokenizer files"):
        loop.train(tiny_cfg(backbone=bare), tmp_path / "r", progress=False)


def test_stdin_keeps_detected_id_column(tiny_run, slices, capsys, monkeypatch):
    import io
    src = pd.read_csv(slices / "test.csv", dtype=str).head(3)
    text = "guid,title,cleanBody\n" + "".join(f"g-{i},{t},{b[:50]}\n" for i, (t, b)
                                            in enumerate(zip(src.title.str.replace(",", " "),
                                                             src.cleanBody.str.replace(",", " "))))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["predict", str(tiny_run), "-", "--quiet"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert out["id"].tolist() == ["g-0", "g-1", "g-2"]


def test_classifier_accepts_run_columns_and_raw_frames(tiny_run, slices):
    clf = Classifier.load(tiny_run)
    raw = pd.read_csv(slices / "test.csv", dtype=str).head(4)
    as_dicts = [{"title": t, "body": b} for t, b in zip(raw.title, raw.cleanBody)]
    expected = clf.predict_proba(as_dicts)
    np.testing.assert_allclose(clf.predict_proba(raw), expected, atol=1e-6)
    by_run_columns = [{"title": t, "cleanBody": b} for t, b in zip(raw.title, raw.cleanBody)]
    np.testing.assert_allclose(clf.predict_proba(by_run_columns), expected, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba([{"headline": t} for t in raw.title]),
                               clf.predict_proba(list(raw.title)), atol=1e-6)  # an alias; a missing body is empty
    with pytest.raises(KornewsError, match="article 0: no title or body"):
        clf.predict([{"foo": "x"}])


def test_title_copies_add_headline_only_articles():
    df = pd.DataFrame({"id": list("abcde"), "title": ["t1", "t2", "", "t4", "t5"], "body": ["b"] * 5,
                       "label": list("xyxyx")})
    assert loop.title_copies(df, 0.0, 0) is df
    every = loop.title_copies(df, 1.0, 0)
    copies = every.iloc[len(df):]
    assert list(copies["id"]) == ["a", "b", "d", "e"]  # the untitled article has nothing to copy
    assert (copies["body"] == "").all() and list(copies["label"]) == list("xyyx")
    assert every.iloc[:len(df)].equals(df)  # the originals are kept as they were
    half = loop.title_copies(df, 0.5, 3)
    assert len(half) == 7 and half.equals(loop.title_copies(df, 0.5, 3))  # seeded
    assert set(half["id"].iloc[5:]) < {"a", "b", "d", "e"}


def test_title_copies_reach_training_only(slices, tiny_backbone, tiny_cfg):
    cfg = tiny_cfg(title_copies=1.0)
    tr, _ = folds.stratified_split(loop.read_split(cfg, cfg.train, "train"), cfg.val_fraction, cfg.seed)
    titled = tr[tr["title"] != ""]
    plain = loop.prepare(tiny_cfg())
    copied = loop.prepare(cfg)
    n = len(plain.train_y)
    assert n == len(tr) and len(copied.train_y) == n + len(titled)
    assert (copied.train_y[:n] == plain.train_y).all() and copied.train.input_ids[:n] == plain.train.input_ids
    # each copy is its article's title alone, as a single segment
    tok = copied.tokenizer
    assert [tok.decode(ids, skip_special_tokens=True) for ids in copied.train.input_ids[n:]] == \
        [tok.decode(tok(t)["input_ids"], skip_special_tokens=True) for t in titled["title"]]
    assert all(tt == [0] * len(tt) for tt in copied.train.token_type_ids[n:])
    assert copied.val.input_ids == plain.val.input_ids and (copied.val_y == plain.val_y).all()
