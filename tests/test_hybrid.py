"""hybrid: TF-IDF saved without pickle, fusions, a hybrid run end to end, and the test split kept out of fitting."""
import json
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from kornews import Classifier, articles, folds, loop, rundir, tfidf
from kornews.errors import KornewsError
from kornews.labels import LabelMap
from kornews.tasks import hybrid as hybrid_task
from kornews.tasks.hybrid import fit_hybrid
from kornews.tasks.training import train_run
from kornews.cli import main

from conftest import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


@pytest.fixture(scope="module")
def frames(slices):
    tr = articles.read(slices / "train.csv", mode=3).frame
    te = articles.read(slices / "test.csv", mode=3).frame
    return tr, te, LabelMap.fit(tr["label"])


@pytest.fixture
def hybrid_run(tiny_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs(3), run)
    return run


def test_tfidf_reloads_bit_identical_without_pickle(frames, tmp_path, monkeypatch):
    tr, te, labels = frames
    model = tfidf.Tfidf().fit(tfidf.texts(tr, 3), labels.encode(tr["label"]), len(labels))
    before = model.log_proba(tfidf.texts(te, 3))
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tfidf.json", "tfidf.safetensors"]

    def no_pickle(*a, **k):
        raise AssertionError("pickle used")
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    after = tfidf.Tfidf.load(tmp_path).log_proba(tfidf.texts(te, 3))
    assert np.array_equal(before, after)
    # and it learned something: far above chance (1/8) on the held-out slice
    assert np.mean(after.argmax(1) == labels.encode(te["label"])) > 0.4


def test_fusions_fit_what_validation_shows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    good = np.log(np.full((200, 4), 0.02) + 0.92 * np.eye(4)[y])          # right, and sure of it
    noise = np.log(rng.dirichlet(np.ones(4), 200))                        # no information
    assert tfidf.fit_fusion("average", good, noise, y)["w_encoder"] == 1.0
    assert tfidf.fit_fusion("average", noise, good, y)["w_encoder"] == 0.0
    stack = tfidf.fit_fusion("stack", noise, good, y)
    assert np.mean(tfidf.fuse(stack, noise, good).argmax(1) == y) > 0.95
    # TF-IDF right only where it is confident: the gate takes it there and the encoder elsewhere
    confident = rng.random(200) < 0.5
    enc = np.where(confident[:, None], noise, good)
    tf = np.where(confident[:, None], good, np.log(np.full((200, 4), 0.25)))
    gate = tfidf.fit_fusion("gate", enc, tf, y)
    assert 0.25 < gate["threshold"] <= 0.9
    assert np.mean(tfidf.fuse(gate, enc, tf).argmax(1) == y) == 1.0
    for params in (stack, gate, {"kind": "average", "w_encoder": 0.3}):
        np.testing.assert_allclose(tfidf.fuse(params, enc, tf).sum(1), 1.0, atol=1e-9)
    with pytest.raises(KornewsError, match="fusion 'mean'"):
        tfidf.fit_fusion("mean", enc, tf, y)


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
    parts, _ = first.classify_parts(articles)
    assert set(parts) == {"encoder", "tfidf", "fused"} and np.array_equal(parts["fused"], probs)
    alone = Classifier.load(hybrid_run, engine="torch-fp32", hybrid=False).predict_proba(articles)
    np.testing.assert_allclose(alone, parts["encoder"], atol=1e-6)
    # evaluate and report: each part alone beside the fusion
    assert main(["evaluate", str(hybrid_run), str(slices / "test.csv"), "--quiet", "--engine", "torch-fp32"]) == 0
    report = json.loads((hybrid_run / "report.json").read_text())
    assert set(report["parts"]) == {"encoder", "tfidf"}
    labels = first.labels
    truth = df.category.tolist()
    assert report["parts"]["tfidf"]["accuracy"] == pytest.approx(
        np.mean([labels[i] == t for i, t in zip(parts["tfidf"].argmax(1), truth)]), abs=1e-6)
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

    cfg = rundir.read_config(hybrid_run)
    full = loop.read_split(cfg, cfg.train, "train")
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


def test_training_with_a_fusion_writes_the_hybrid(slices, tiny_backbone, tmp_path, tiny_cfg):
    run = tmp_path / "run"
    train_run(tiny_cfg(epochs=1, fusion="average"), run, progress=False, log=lambda s: None)
    assert (run / "hybrid" / "fusion.json").is_file() and Classifier.load(run).hybrid.kind == "average"


def test_a_damaged_hybrid_is_a_clear_error(hybrid_run):
    fit_hybrid(hybrid_run, "average", log=lambda s: None)
    (hybrid_run / "hybrid" / "tfidf.safetensors").write_bytes(b"garbage")
    with pytest.raises(KornewsError, match="damaged hybrid.*kornews hybrid"):
        Classifier.load(hybrid_run)
