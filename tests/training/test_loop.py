"""End to end on the tiny backbone: train → evaluate → predict → report, resume, determinism, DDP, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from conftest import SHARED

from kornews.cli import main
from kornews.core.errors import KornewsError
from kornews.data import folds
from kornews.model import modeling
from kornews.training import config, loop, setup, ways
from kornews.training.ways import also

real_cache_prefix = modeling.cache_prefix

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")




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


# one kill in the default run; the other two (15 s each, two processes) with the slow tests
@pytest.mark.parametrize("mode, kill_at, extra", [
    (3, "[Epoch 1 Batch 2/", []),
    pytest.param(5, "[Epoch 2 Batch 2/", [], marks=pytest.mark.slow),
    pytest.param(3, "[Epoch 2 Batch 2/", ["--ema=0.9", "--head_init=probe"], marks=pytest.mark.slow)])
def test_resume_after_kill_mid_epoch(mode, kill_at, extra, slices, tiny_backbone, tmp_path, capsys):
    """Killed in the middle of an epoch (the first: nothing saved yet; or the second), then resumed: the metrics
    are those of an uninterrupted run, for a plain and a mode 5 run, and for one whose head started from a probe
    and whose validation reads a moving average (neither refitted nor restarted on resume)."""
    overrides = [f"--train={slices / 'train.csv'}", f"--test={slices / 'test.csv'}", f"--backbone={tiny_backbone}",
                 "--max_len=32", "--epochs=2", "--batch_size=4", "--lr=5e-4", "--val_fraction=0.25",
                 "--threads=1", "--freeze_layers=0", "--long_strategy=head", "--log_every=2", f"--mode={mode}",
                 "--clusters.k=3", *extra]
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
    from kornews.core import files
    assert files.home() == kornews_home and any((kornews_home / "tokens").iterdir())


@pytest.mark.slow  # two training processes: 12 s
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


def test_max_len_above_model_limit(slices, tiny_backbone, tmp_path, tiny_cfg):
    with pytest.raises(KornewsError, match="config: max_len 600 exceeds the limit of 512 positions"):
        loop.train(tiny_cfg(max_len=600), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # nothing half-written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_asked_for_where_there_is_none(slices, tiny_backbone, tmp_path, tiny_cfg):
    with pytest.raises(KornewsError, match="device 'cuda': torch sees no CUDA GPU here"):
        loop.train(tiny_cfg(device="cuda"), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_the_run_records_where_it_trained(tiny_run):
    env = json.loads((tiny_run / "env.json").read_text())
    assert env["device"] == ("cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu")


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


def test_title_copies_add_headline_only_articles():
    df = pd.DataFrame({"id": list("abcde"), "title": ["t1", "t2", "", "t4", "t5"], "body": ["b"] * 5,
                       "label": list("xyxyx")})
    assert setup.title_copies(df, 0.0, 0) is df
    every = setup.title_copies(df, 1.0, 0)
    copies = every.iloc[len(df):]
    assert list(copies["id"]) == ["a", "b", "d", "e"]  # the untitled article has nothing to copy
    assert (copies["body"] == "").all() and list(copies["label"]) == list("xyyx")
    assert every.iloc[:len(df)].equals(df)  # the originals are kept as they were
    half = setup.title_copies(df, 0.5, 3)
    assert len(half) == 7 and half.equals(setup.title_copies(df, 0.5, 3))  # seeded
    assert set(half["id"].iloc[5:]) < {"a", "b", "d", "e"}


def test_title_copies_reach_training_only(slices, tiny_backbone, tiny_cfg):
    cfg = tiny_cfg(title_copies=1.0)
    tr, _ = folds.stratified_split(setup.read_split(cfg, cfg.train, "train"), cfg.val_fraction, cfg.seed)
    titled = tr[tr["title"] != ""]
    plain = setup.prepare(tiny_cfg())
    copied = setup.prepare(cfg)
    n = len(plain.train_y)
    assert n == len(tr) and len(copied.train_y) == n + len(titled)
    assert (copied.train_y[:n] == plain.train_y).all() and copied.train.input_ids[:n] == plain.train.input_ids
    # each copy is its article's title alone, as a single segment
    tok = copied.tokenizer
    assert [tok.decode(ids, skip_special_tokens=True) for ids in copied.train.input_ids[n:]] == \
        [tok.decode(tok(t)["input_ids"], skip_special_tokens=True) for t in titled["title"]]
    assert all(tt == [0] * len(tt) for tt in copied.train.token_type_ids[n:])
    assert copied.val.input_ids == plain.val.input_ids and (copied.val_y == plain.val_y).all()


def test_a_label_set_costs_minus_the_log_of_its_summed_probability():
    import torch
    import torch.nn.functional as F
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    sets = torch.tensor([[False, True, True]])  # id 3 = "1 or 2"
    single = torch.tensor([0, 2])
    way = also.Also(SimpleNamespace(also=None))
    way.sets = sets
    assert torch.allclose(also.label_set_loss(logits, way.allowed(single, 3)), F.cross_entropy(logits, single))
    p = logits.softmax(1)
    expected = -(torch.log(p[0, 0]) + torch.log(p[1, 1] + p[1, 2])) / 2
    assert torch.allclose(also.label_set_loss(logits, way.allowed(torch.tensor([0, 3]), 3)), expected)
    assert way.allowed(torch.tensor([3, -1, 1]), 3).tolist() == [
        [False, True, True], [False, False, False], [False, True, False]]


@pytest.fixture
def headlines(tmp_path):
    """Six YNAT-style headlines with YNAT's Korean labels (a TSV with title, label)."""
    path = tmp_path / "headlines.tsv"
    pd.DataFrame({"title": ["손흥민 두 골", "코스피 상승", "국회 본회의", "새 영화 개봉", "전시회 열려", "류현진 승리"],
                  "label": ["스포츠", "경제", "정치", "생활문화", "생활문화", "스포츠"]}) \
        .to_csv(path, sep="\t", index=False)
    return path


YNAT_TO_KNEWS8 = {"스포츠": "sport", "경제": "economy", "정치": "politics", "생활문화": "culture|entertain"}


def test_also_rows_map_labels_and_sets(headlines, tiny_cfg):
    from kornews.data.labels import LabelMap
    labels = LabelMap.fit(["culture", "economy", "entertain", "politics", "sport"])
    rows, sets = also.mapped_rows(tiny_cfg(also={"data": str(headlines), "labels": YNAT_TO_KNEWS8}), labels)
    assert len(rows) == 6 and rows.y.tolist() == [4, 1, 3, 5, 5, 4]  # 5 = the one set, culture or entertain
    assert sets.tolist() == [[True, False, True, False, False]]


@pytest.mark.parametrize("labels, message", [
    ({"스포츠": "sport"}, "also.labels has no entry for .* label\\(s\\) 경제, 생활문화, 정치"),
    ({**YNAT_TO_KNEWS8, "정치": "policy"}, "maps to policy, which the training data's labels"),
])
def test_also_labels_that_do_not_fit_are_one_line(headlines, tiny_cfg, labels, message):
    from kornews.data.labels import LabelMap
    with pytest.raises(KornewsError, match=message):
        also.mapped_rows(tiny_cfg(also={"data": str(headlines), "labels": labels}),
                       LabelMap.fit(["culture", "economy", "entertain", "politics", "sport"]))


def test_training_with_another_source_keeps_validation_its_own(headlines, tiny_cfg, tmp_path):
    cfg = tiny_cfg(also={"data": str(headlines), "labels": YNAT_TO_KNEWS8}, epochs=1)
    way = ways.of(cfg)
    alone, both = setup.prepare(tiny_cfg()), setup.prepare(cfg, way)
    assert len(both.train_y) == len(alone.train_y) + 6 and (both.train_y >= 8).sum() == 2
    assert both.val_y.tolist() == alone.val_y.tolist() and way.sets.shape == (1, 8)
    from kornews.commands.train import train_run
    train_run(cfg, tmp_path / "run", progress=False, log=lambda s: None)
    assert (tmp_path / "run" / "final.json").is_file()
    assert config.load(tmp_path / "run" / "config.yaml").also.data == str(headlines)
    assert "also trained on" in (tmp_path / "run" / "README.md").read_text()
    with pytest.raises(KornewsError, match="not to an adapted or distilled one"):
        tiny_cfg(also={"data": str(headlines), "labels": YNAT_TO_KNEWS8}, distill={"teacher": "x"}, freeze_layers=0)


def test_also_repeats_the_runs_own_articles_not_the_other_sources(headlines, tiny_cfg):
    once = setup.prepare(tiny_cfg(also={"data": str(headlines), "labels": YNAT_TO_KNEWS8}))
    thrice = setup.prepare(tiny_cfg(also={"data": str(headlines), "labels": YNAT_TO_KNEWS8, "repeats": 3}))
    own = len(once.train_y) - 6
    assert len(thrice.train_y) == 3 * own + 6 and thrice.train_y[-6:].tolist() == once.train_y[-6:].tolist()
    assert thrice.train_y[:3 * own].tolist() == once.train_y[:own].tolist() * 3
    assert thrice.val_y.tolist() == once.val_y.tolist()
    with pytest.raises(KornewsError, match="also.repeats must be at least 1, got 0"):
        tiny_cfg(also={"data": str(headlines), "labels": YNAT_TO_KNEWS8, "repeats": 0})
