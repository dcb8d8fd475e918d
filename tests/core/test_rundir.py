"""rundir: a run directory describes itself and is all that evaluate, predict and serve need."""
import json
import os
import stat

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kornews import Classifier
from kornews.cli import main
from kornews.model import modeling


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


def test_run_directory_missing_files(tiny_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    assert main(["predict", str(broken), "knews8:test"]) == 2
    assert "missing: model/config.json" in capsys.readouterr().err
    assert main(["report", str(broken)]) == 2
    assert "missing: predictions.csv" in capsys.readouterr().err


def test_old_run_layout_still_loads(tiny_backbone, slices, tmp_path):
    """A run directory as kornews wrote it before InputSpec and bf16 storage: fp32 weights, the old block."""
    labels = {i: name for i, name in enumerate(sorted(pd.read_csv(slices / "train.csv").category.unique()))}
    model = modeling.build(str(tiny_backbone), labels, seed=3)
    model.config.kornews = {"mode": 3, "max_len": 48, "long_strategy": "head", "columns": None}
    model.save_pretrained(tmp_path / "old" / "model")
    from kornews.model import backbones
    backbones.load_tokenizer(tiny_backbone).save_pretrained(tmp_path / "old" / "model")
    clf = Classifier.load(tmp_path / "old", engine="torch-fp32")
    assert clf.spec.max_len == 48 and clf.spec.long_strategy == "head" and clf.labels == list(labels.values())
    article = {"title": "국회 본회의 예산안 처리", "body": "여야가 예산안을 두고 대립했다."}
    tok = clf.tokenizer
    with torch.no_grad():
        expected = torch.softmax(model.eval()(**tok(article["title"], article["body"], return_tensors="pt")).logits, -1)
    np.testing.assert_allclose(clf.predict_proba([article]), expected.numpy(), atol=1e-5)
    assert main(["predict", str(tmp_path / "old"), str(slices / "test.csv"), "-o", str(tmp_path / "p.csv"),
                 "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 32


def test_run_files_are_readable_by_others(tiny_runs):
    mask = os.umask(0)
    os.umask(mask)
    run = tiny_runs(3)
    for path in [run, *run.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o777 if path.is_dir() else 0o666) & ~mask, (path, oct(mode))
