"""commands.report: report.json, report.md and plots rebuilt from a run's saved predictions alone."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from kornews.cli import main


def test_evaluate_then_report_rebuilds_without_model(tiny_run, slices, capsys, tmp_path):
    tiny_run = shutil.copytree(tiny_run, tmp_path / "run")  # the shared run stays unevaluated for other tests
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
