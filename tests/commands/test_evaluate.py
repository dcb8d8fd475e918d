"""commands.evaluate: `kornews evaluate` reads labelled data as the run does, refuses unseen labels before writing."""
import shutil

import pandas as pd
import pytest
from helpers import write

from kornews.commands.evaluate import evaluate
from kornews.core.errors import KornewsError


def test_evaluate_reads_any_header_and_writes_predictions_and_report(tiny_run, slices, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    test = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    korean = test.rename(columns={"title": "제목", "cleanBody": "본문", "category": "카테고리"})
    path = tmp_path / "test-cp949.csv"
    path.write_bytes(korean.to_csv(index=False).encode("cp949", errors="replace"))
    metrics = evaluate(run, str(path))
    predictions = pd.read_csv(run / "predictions.csv", dtype=str)
    assert len(predictions) == len(test) == metrics["n"] and predictions["label"].tolist() == test["category"].tolist()
    assert (run / "report.md").is_file() and 0 <= metrics["accuracy"] <= 1


def test_unseen_labels_fail_before_anything_is_written(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    path = write(tmp_path / "t.csv", "title,cleanBody,category\n가,본문,weather\n나,본문,politics\n")
    with pytest.raises(KornewsError, match=r"labels never seen in training: 'weather' \(1 row, row 1\)"):
        evaluate(run, str(path))
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
