"""adaptation: EM priors, the prior shift, pseudo-label picks, adaptation.json."""
import json

import numpy as np
import pytest

from kornews.core.errors import KornewsError
from kornews.stats import transfer


def posteriors(prior: np.ndarray, n: int, seed: int):
    """Articles drawn with topic shares `prior` from three 1-D Gaussians, and their exact posteriors under a
    uniform training prior: what a perfectly calibrated model trained on balanced data would say."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(prior), size=n, p=prior)
    x = rng.normal(loc=y * 1.5, scale=1.0)
    likelihood = np.exp(-0.5 * (x[:, None] - np.arange(len(prior))[None, :] * 1.5) ** 2)
    return likelihood / likelihood.sum(1, keepdims=True), y


def test_em_recovers_the_target_mix_and_the_shift_helps():
    uniform, true = np.full(3, 1 / 3), np.array([0.7, 0.2, 0.1])
    probs, y = posteriors(true, 20000, seed=0)
    found, iterations = transfer.em_priors(probs, uniform)
    np.testing.assert_allclose(found, true, atol=0.02)
    assert 1 < iterations < transfer.EM_MAX_ITER
    shifted = transfer.shift(probs, uniform, found)
    assert (shifted.argmax(1) == y).mean() > (probs.argmax(1) == y).mean() + 0.02
    np.testing.assert_allclose(shifted.sum(1), 1.0)
    # with the training prior as the target nothing moves, and a shift undoes exactly
    np.testing.assert_allclose(transfer.shift(probs, uniform, uniform), probs)
    np.testing.assert_allclose(transfer.shift(shifted, found, uniform), probs, atol=1e-12)


def test_pseudo_labels_take_the_surest_per_topic_above_the_threshold():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.95, 0.05], [0.2, 0.8], [0.45, 0.55], [0.7, 0.3]])
    assert transfer.pseudo_labels(probs, per_topic=2).tolist() == [0, 2, 3, 4]
    assert transfer.pseudo_labels(probs, per_topic=5, min_confidence=0.7).tolist() == [0, 2, 3, 5]
    assert transfer.pseudo_labels(probs, per_topic=5, min_confidence=0.99).tolist() == []
    with pytest.raises(KornewsError, match="per_topic must be at least 1"):
        transfer.pseudo_labels(probs, per_topic=0)


def test_fit_shift_floors_an_absent_topic_and_saves(tmp_path):
    probs = np.tile([[0.5, 0.5, 0.0]], (10, 1))
    shift = transfer.fit_shift(probs, [1, 1, 1], ["a", "b", "c"], "x.csv (10 articles)")
    assert shift.target[2] == pytest.approx(transfer.PRIOR_FLOOR, rel=0.01) and sum(shift.target) == pytest.approx(1)
    assert shift.source == [pytest.approx(1 / 3, abs=1e-6)] * 3
    shift.save(tmp_path)
    assert transfer.PriorShift.load(tmp_path, ["a", "b", "c"]) == shift
    assert transfer.PriorShift.load(tmp_path / "none") is None
    with pytest.raises(KornewsError, match=r"fitted for the labels \['a', 'b', 'c'\], the model has \['a', 'b', 'd'\]"):
        transfer.PriorShift.load(tmp_path, ["a", "b", "d"])


@pytest.mark.parametrize("content, message", [
    ("{", "damaged prior correction"),
    (json.dumps({"labels": ["a", "b"], "source": [0.5, 0.5], "target": [1.0], "fitted_on": "x", "n": 1,
                 "iterations": 1}), "target prior must be 2 non-negative numbers"),
    (json.dumps({"labels": ["a", "b"], "source": [1.0, 0.0], "target": [0.5, 0.5], "fitted_on": "x", "n": 1,
                 "iterations": 1}), "training prior gives a topic no weight"),
])
def test_a_damaged_adaptation_file_is_one_clear_error(tmp_path, content, message):
    (tmp_path / transfer.FILE).write_text(content)
    with pytest.raises(KornewsError, match=message):
        transfer.PriorShift.load(tmp_path)


def test_neighbours_are_the_most_similar_others_chunk_by_chunk():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 4))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    graph = transfer.neighbours(vectors, 3, chunk=7)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    expected = np.argsort(-sims, axis=1)[:, :3]
    assert (np.sort(graph, 1) == np.sort(expected, 1)).all() and (graph != np.arange(50)[:, None]).all()
    with pytest.raises(KornewsError, match=r"k must be in \[1, 49\] for 50 articles, got 50"):
        transfer.neighbours(vectors, 50)


def test_spreading_pulls_an_article_towards_its_neighbours():
    # two groups of three; article 2 is unsure and leans the wrong way, its neighbours are sure
    probs = np.array([[0.9, 0.1], [0.95, 0.05], [0.45, 0.55], [0.1, 0.9], [0.05, 0.95], [0.2, 0.8]])
    graph = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])
    spread = transfer.spread(probs, graph)
    assert spread.argmax(1).tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(spread.sum(1), 1.0)
    np.testing.assert_allclose(transfer.spread(probs, graph, alpha=0.0), probs)
    with pytest.raises(KornewsError, match=r"spreading weight must be in \[0, 1\), got 1.0"):
        transfer.spread(probs, graph, alpha=1.0)
