"""commands.calibrate: a run's temperature and review threshold, applied by every prediction path and reported."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from kornews import Classifier
from kornews.cli import main
from kornews.commands.calibrate import calibrate_run
from kornews.core.errors import KornewsError
from kornews.inference.classifier import review_threshold
from kornews.stats.confidence import ece, tempered, top_label_scaled


@pytest.fixture
def calibrated_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    calibrate_run(run, method="temperature", log=lambda s: None)  # top-label scaling: its own test below
    return run


def test_calibration_is_applied_and_changes_no_topic(calibrated_run, slices):
    saved = json.loads((calibrated_run / "calibration.json").read_text())
    assert saved["temperature"] > 0 and saved["fitted_on"].startswith("validation split (")
    test = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    raw = Classifier.load(calibrated_run, engine="torch-fp32", calibrated=False).predict_proba(test)
    got = Classifier.load(calibrated_run, engine="torch-fp32").predict_proba(test)
    np.testing.assert_allclose(got, tempered(raw, saved["temperature"]), atol=1e-6)
    assert (got.argmax(1) == raw.argmax(1)).all()


def test_predict_marks_articles_for_review(calibrated_run, slices, tmp_path):
    out = tmp_path / "p.csv"
    assert main(["predict", str(calibrated_run), str(slices / "test.csv"), "-o", str(out), "--quiet",
                 "--min-confidence", "0.5"]) == 0
    frame = pd.read_csv(out)
    assert ((frame.confidence < 0.5) == frame.review).all() and frame.review.dtype == bool
    assert main(["predict", str(calibrated_run), str(slices / "test.csv"), "-o", str(out), "--quiet",
                 "--min-confidence", "0"]) == 0
    assert "review" not in pd.read_csv(out)


def test_evaluate_reports_confidence_before_and_after(calibrated_run, slices):
    assert main(["evaluate", str(calibrated_run), str(slices / "test.csv"), "--quiet"]) == 0
    report = json.loads((calibrated_run / "report.json").read_text())["confidence"]
    assert report["temperature"] == json.loads((calibrated_run / "calibration.json").read_text())["temperature"]
    assert 0 <= report["ece_after"] <= 1 and 0 <= report["ece_before"] <= 1
    assert set(report["at_coverage"]) == {"0.50", "0.80", "0.90"}
    assert 0 < report["ece_floor"] < 0.5  # 32 articles of a tiny model: a floor well above 0
    text = (calibrated_run / "report.md").read_text()
    assert "Calibration error (ECE, 10 bins)" in text and "On 32 articles a perfectly calibrated" in text
    for plot in ("reliability.png", "coverage.png"):
        assert (calibrated_run / "plots" / plot).stat().st_size > 5000


def test_calibrate_on_a_labelled_file_and_bad_input(calibrated_run, slices, tmp_path, capsys):
    assert main(["calibrate", str(calibrated_run), str(slices / "test.csv"), "--method", "temperature"]) == 0
    assert "test.csv (32 articles)" in json.loads((calibrated_run / "calibration.json").read_text())["fitted_on"]
    assert "calibration: temperature" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("title,cleanBody,category\n가,본문,weather\n", encoding="utf-8")
    with pytest.raises(KornewsError, match="labels never seen in training: 'weather'"):
        calibrate_run(calibrated_run, str(bad), log=lambda s: None)
    clf = Classifier.load(calibrated_run)
    assert review_threshold(clf) == clf.calibration.min_confidence and review_threshold(clf, 0) is None
    with pytest.raises(KornewsError, match=r"min_confidence must be in \[0, 1\], got 1.5"):
        review_threshold(clf, 1.5)


def test_a_headline_alone_gets_the_headline_temperature(calibrated_run, slices, tmp_path):
    saved = json.loads((calibrated_run / "calibration.json").read_text())
    assert saved["headline_temperature"] > 0 and saved["headline_ece_before"] is not None
    mixed = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    mixed.loc[::2, "cleanBody"] = ""   # every other article a headline alone
    raw = Classifier.load(calibrated_run, engine="torch-fp32", calibrated=False).predict_proba(mixed)
    got = Classifier.load(calibrated_run, engine="torch-fp32").predict_proba(mixed)
    each = np.where(np.arange(len(mixed)) % 2 == 0, saved["headline_temperature"], saved["temperature"])
    np.testing.assert_allclose(got, tempered(raw, each), atol=1e-6)
    # evaluate writes which temperature each article got, and the report undoes each one's own
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    assert main(["evaluate", str(calibrated_run), str(tmp_path / "mixed.csv"), "--quiet", "--engine",
                 "torch-fp32"]) == 0
    preds = pd.read_csv(calibrated_run / "predictions.csv")
    assert preds["headline"].tolist() == (np.arange(len(mixed)) % 2 == 0).tolist()
    y = np.array([Classifier.load(calibrated_run).labels.index(c) for c in mixed["category"]])
    report = json.loads((calibrated_run / "report.json").read_text())["confidence"]
    assert report["ece_before"] == pytest.approx(ece(raw, y), abs=1e-4)
    assert "headline alone" in (calibrated_run / "README.md").read_text()


def test_top_label_scaling_through_calibrate_predict_evaluate_and_the_card(calibrated_run, slices, capsys):
    assert main(["calibrate", str(calibrated_run), "--method", "isotonic"]) == 2
    assert "calibration method must be one of temperature, top-label" in capsys.readouterr().err
    calibrate_run(calibrated_run, log=print)  # the run's recipe says, and the default is top-label scaling
    assert "calibration: top-label scaling (a " in capsys.readouterr().out
    assert main(["calibrate", str(calibrated_run), "--method", "temperature"]) == 0
    assert json.loads((calibrated_run / "calibration.json").read_text())["top_label"] is None
    assert main(["calibrate", str(calibrated_run), "--method", "top-label"]) == 0
    saved = json.loads((calibrated_run / "calibration.json").read_text())
    assert len(saved["top_label"]) == 2 and saved["temperature_ece_after"] is not None
    test = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    raw = Classifier.load(calibrated_run, engine="torch-fp32", calibrated=False).predict_proba(test)
    got = Classifier.load(calibrated_run, engine="torch-fp32").predict_proba(test)
    np.testing.assert_allclose(got, top_label_scaled(raw, *saved["top_label"]), atol=1e-6)
    assert (got.argmax(1) == raw.argmax(1)).all()
    # the report undoes the scaling from the saved probabilities: its raw error is the raw model's
    assert main(["evaluate", str(calibrated_run), str(slices / "test.csv"), "--quiet", "--engine", "torch-fp32"]) == 0
    report = json.loads((calibrated_run / "report.json").read_text())["confidence"]
    y = np.array([Classifier.load(calibrated_run).labels.index(c) for c in test["category"]])
    assert report["method"] == "top-label" and report["ece_before"] == pytest.approx(ece(raw, y), abs=1e-4)
    assert report["ece_after"] == pytest.approx(ece(got, y), abs=1e-4)
    assert "after the run's top-label scaling (a " in (calibrated_run / "report.md").read_text()
    assert "Top-label scaling, fitted on the validation split" in (calibrated_run / "README.md").read_text()
