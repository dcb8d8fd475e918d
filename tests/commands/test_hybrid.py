"""hybrid: TF-IDF saved without pickle, fusions, a hybrid run end to end, and the test split kept out of fitting."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from kornews import Classifier
from kornews.cli import main
from kornews.commands import hybrid as hybrid_task
from kornews.commands.hybrid import fit_hybrid
from kornews.core.errors import KornewsError
from kornews.data import articles, folds
from kornews.stats import tfidf
from kornews.training import config, setup

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")




@pytest.fixture
def hybrid_run(tiny_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs(3), run)
    return run


def test_a_hybrid_run_saves_reloads_and_predicts_identically(hybrid_run, slices):
    assert main(["hybrid", str(hybrid_run), "--fusion", "stack"]) == 0
    fusion = json.loads((hybrid_run / "hybrid" / "fusion.json").read_text())
    assert fusion["kind"] == "stack" and "validation split (24 articles)" == fusion["fitted_on"]["fusion"]
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    articles = [{"title": t, "body": b} for t, b in zip(df.title, df.cleanBody)]
    first = Classifier.load(hybrid_run, engine="torch-fp32")
    assert first.hybrid.kind == "stack"
    probs = first.predict_proba(articles)
    assert np.array_equal(probs, Classifier.load(hybrid_run, engine="torch-fp32").predict_proba(articles))
    parts = first.scores(articles)
    assert parts.tfidf is not None and np.array_equal(parts.probs, probs)
    alone = Classifier.load(hybrid_run, engine="torch-fp32", hybrid=False).predict_proba(articles)
    np.testing.assert_allclose(alone, parts.encoder, atol=1e-6)
    # evaluate and report: each part alone beside the fusion
    assert main(["evaluate", str(hybrid_run), str(slices / "test.csv"), "--quiet", "--engine", "torch-fp32"]) == 0
    report = json.loads((hybrid_run / "report.json").read_text())
    assert set(report["parts"]) == {"encoder", "tfidf"}
    labels = first.labels
    truth = df.category.tolist()
    assert report["parts"]["tfidf"]["accuracy"] == pytest.approx(
        np.mean([labels[i] == t for i, t in zip(parts.tfidf.argmax(1), truth)]), abs=1e-6)
    assert report["accuracy"] == pytest.approx(np.mean([labels[i] == t for i, t in zip(probs.argmax(1), truth)]),
                                               abs=1e-6)
    assert "| tfidf alone |" in (hybrid_run / "report.md").read_text()


def test_the_test_split_never_reaches_the_fitting(hybrid_run, slices, monkeypatch):
    seen = {"tfidf": [], "fusion": 0}
    fit, fit_fusion = tfidf.Tfidf.fit, tfidf.fit_fusion

    def spy_fit(self, texts, y, n):
        seen["tfidf"] += texts
        return fit(self, texts, y, n)

    def spy_fusion(kind, enc, tf, y):
        seen["fusion"] = len(y)
        return fit_fusion(kind, enc, tf, y)
    monkeypatch.setattr(tfidf.Tfidf, "fit", spy_fit)
    monkeypatch.setattr(hybrid_task, "fit_fusion", spy_fusion)
    fit_hybrid(hybrid_run, "gate", log=lambda s: None)

    cfg = config.read_run(hybrid_run)
    full = setup.read_split(cfg, cfg.train, "train")
    tr, va = folds.stratified_split(full, cfg.val_fraction, cfg.seed)
    test = tfidf.texts(articles.read(slices / "test.csv", mode=3).frame, 3)
    assert sorted(seen["tfidf"]) == sorted(tfidf.texts(tr, 3))      # the training part, nothing else
    assert not set(seen["tfidf"]) & (set(test) | set(tfidf.texts(va, 3)))
    assert seen["fusion"] == len(va) == 24                            # the validation split only


def test_another_fusion_reuses_the_trained_tfidf(hybrid_run, monkeypatch):
    fit_hybrid(hybrid_run, "average", log=lambda s: None)
    weights = (hybrid_run / "hybrid" / "tfidf.safetensors").read_bytes()
    trained = tfidf.Hybrid.load(hybrid_run).tfidf

    def refit(*args):
        raise AssertionError("TF-IDF trained again")
    monkeypatch.setattr(tfidf.Tfidf, "fit", refit)
    params = fit_hybrid(hybrid_run, "gate", log=lambda s: None, tfidf=trained)
    assert params["kind"] == tfidf.Hybrid.load(hybrid_run).kind == "gate"
    assert (hybrid_run / "hybrid" / "tfidf.safetensors").read_bytes() == weights


def test_a_damaged_hybrid_is_a_clear_error(hybrid_run):
    fit_hybrid(hybrid_run, "average", log=lambda s: None)
    (hybrid_run / "hybrid" / "tfidf.safetensors").write_bytes(b"garbage")
    with pytest.raises(KornewsError, match="damaged hybrid.*kornews hybrid"):
        Classifier.load(hybrid_run)
