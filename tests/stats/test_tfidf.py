"""tfidf: the TF-IDF model saved without pickle, and the fusions as pure functions."""
import pickle

import numpy as np
import pytest

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.labels import LabelMap
from kornews.stats import tfidf


@pytest.fixture(scope="module")
def frames(slices):
    tr = articles.read(slices / "train.csv", mode=3).frame
    te = articles.read(slices / "test.csv", mode=3).frame
    return tr, te, LabelMap.fit(tr["label"])


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
