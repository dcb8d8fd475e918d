"""predict: input order with mixed lengths, threads, progress, cluster ids in the output, old runs, odd files."""
import json
import os
import shutil
import stat

import numpy as np
import pandas as pd
import pytest
import torch

from kornews import Classifier, articles, modeling, runtime
from kornews.cli import main

from conftest import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


def test_order_is_kept_with_mixed_lengths(tiny_runs, slices):
    df = pd.read_csv(slices / "test.csv", dtype=str)
    # lengths from a few tokens to well past max_len, shuffled so sorting by length must be undone
    batch = [{"title": t[: 3 + i % 20], "body": b[: (i * 37) % 300]} for i, (t, b) in
                enumerate(zip(df.title, df.cleanBody))]
    clf = Classifier.load(tiny_runs(3), engine="torch-fp32", batch_size=4)
    together = clf.predict_proba(batch)
    alone = np.concatenate([clf.predict_proba([a]) for a in batch])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_threads_share_the_cores(tiny_runs):
    assert runtime.threads_for(1) == runtime.cores()
    assert runtime.threads_for(runtime.cores() * 4) == 1
    before = torch.get_num_threads()
    try:
        Classifier.load(tiny_runs(3), threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_predict_shows_engine_and_progress_unless_quiet(tiny_runs, slices, tmp_path, capsys):
    run = tiny_runs(3)
    assert main(["predict", str(run), str(slices / "test.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "kornews: predicting with torch-" in err and "predict" in err and "32/32" in err
    assert main(["predict", str(run), str(slices / "test.csv"), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mode", [4, 5])
def test_cluster_ids_in_the_output(mode, tiny_runs, slices, tmp_path):
    assert main(["predict", str(tiny_runs(mode)), str(slices / "test.csv"), "-o", str(tmp_path / "p.jsonl"),
                 "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 32 and all(r["cluster"] in (0, 1, 2) for r in rows)
    assert "cluster" not in pd.read_csv(slices / "test.csv").columns  # the run assigned them itself


def test_old_run_layout_still_loads(tiny_backbone, slices, tmp_path):
    """A run directory as kornews wrote it before InputSpec and bf16 storage: fp32 weights, the old block."""
    labels = {i: name for i, name in enumerate(sorted(pd.read_csv(slices / "train.csv").category.unique()))}
    model = modeling.build(str(tiny_backbone), labels, seed=3)
    model.config.kornews = {"mode": 3, "max_len": 48, "long_strategy": "head", "columns": None}
    model.save_pretrained(tmp_path / "old" / "model")
    from kornews import backbones
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


def _cr_only(slices, tmp_path, n=24):
    """A CSV with classic Mac line endings (bare CR), header included."""
    df = pd.read_csv(slices / "train.csv", dtype=str, keep_default_na=False).groupby("category").head(n // 8)
    df["cleanBody"] = df["cleanBody"].str.replace(r"[\r\n]", " ", regex=True)
    path = tmp_path / "mac.csv"
    path.write_bytes(df.to_csv(index=False, lineterminator="\r").encode("utf-8"))
    assert b"\n" not in path.read_bytes()
    return path, df


def test_cr_only_csv_through_every_reader(tiny_runs, slices, tiny_backbone, tmp_path, capsys):
    path, df = _cr_only(slices, tmp_path)
    run = tiny_runs(3)
    # Python API
    frame = articles.read(path, mode=3).frame
    assert frame["title"].tolist() == df["title"].str.strip().tolist()
    assert len(Classifier.load(run).predict(frame)) == len(df)
    # predict and evaluate
    assert main(["predict", str(run), str(path), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "p.csv", dtype=str)["id"].tolist() == df["id"].tolist()
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["evaluate", str(copy), str(path), "--quiet"]) == 0
    # train
    out = tmp_path / "trained"
    assert main(["train", "--quiet", "--out", str(out), f"--train={path}", "--test=null",
                 f"--backbone={tiny_backbone}", "--max_len=32", "--epochs=1", "--val_fraction=0.34",
                 "--threads=1", "--freeze_layers=0"]) == 0
    assert (out / "final.json").is_file()
