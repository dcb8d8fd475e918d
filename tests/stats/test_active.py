"""stats.active: choosing the articles worth a label from probabilities and embeddings alone."""
import numpy as np
import pytest

from kornews.core.errors import KornewsError
from kornews.stats import active


def pool(seed=0, per=20, groups=4, dim=16):
    """`groups` tight groups of unit vectors, and probabilities whose margin is known per row."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    vectors = np.concatenate([c + 0.3 * rng.normal(size=(per, dim)) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    top = rng.uniform(0.4, 0.99, size=len(vectors))
    probs = np.stack([top, 1 - top], axis=1)
    return probs, vectors.astype(np.float32), np.repeat(np.arange(groups), per)


def test_margin_is_top_minus_runner_up():
    assert active.margin(np.array([[0.7, 0.2, 0.1], [0.4, 0.45, 0.15]])).round(6).tolist() == [0.5, 0.05]


def test_uncertainty_takes_the_smallest_margins():
    probs, vectors, _ = pool()
    got = active.choose(5, probs, vectors, "uncertainty")
    assert set(got) == set(np.argsort(active.margin(probs))[:5])


def test_default_takes_one_unsure_article_per_cluster():
    probs, vectors, group = pool()
    got = active.choose(4, probs, vectors, "default", seed=1)
    assert sorted(group[got]) == [0, 1, 2, 3]  # one from each corner of the pool
    for j in got:  # ... and within its corner the article the run is least sure of
        members = np.flatnonzero(group == group[j])
        assert active.margin(probs)[j] == active.margin(probs[members]).min()


def test_diversity_takes_the_most_typical_article_per_cluster():
    probs, vectors, group = pool()
    got = active.choose(4, probs, vectors, "diversity", seed=1)
    assert sorted(group[got]) == [0, 1, 2, 3]
    for j in got:
        members = np.flatnonzero(group == group[j])
        centre = vectors[members].mean(0)
        assert vectors[j] @ centre >= (vectors[members] @ centre).max() - 0.05


def test_random_is_repeatable_with_its_seed_and_differs_across_seeds():
    probs, vectors, _ = pool()
    a, b, c = (active.choose(10, probs, vectors, "random", seed=s) for s in (3, 3, 4))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist() and len(set(a)) == 10


@pytest.mark.parametrize("strategy", active.STRATEGIES)
def test_labelled_articles_and_near_duplicates_are_never_chosen(strategy):
    probs, vectors, _ = pool()
    vectors = np.concatenate([vectors, vectors[:3]])  # rows 80-82 tell rows 0-2's stories again
    probs = np.concatenate([probs, np.full((3, 2), 0.5)])  # ... and are the ones the run is least sure of
    got = active.choose(30, probs, vectors, strategy, seed=0, labelled=[0, 1, 2, 5])
    assert not set(got) & {0, 1, 2, 5, 80, 81, 82} and len(got) == len(set(got)) == 30
    sims = vectors[got] @ vectors[got].T
    assert (sims[~np.eye(len(got), dtype=bool)] <= active.DUPLICATE).all()


def test_a_small_pool_gives_what_it_has():
    probs, vectors, _ = pool(per=3, groups=2)
    assert len(active.choose(50, probs, vectors, "default", labelled=[0])) == 5


@pytest.mark.parametrize("call, message", [
    (lambda p, v: active.choose(3, p, v, "smart"), "strategy must be one of default, uncertainty"),
    (lambda p, v: active.choose(0, p, v), "n must be at least 1"),
    (lambda p, v: active.choose(3, p[:5], v), "5 probability rows for 80 embeddings"),
])
def test_bad_requests_are_one_line(call, message):
    probs, vectors, _ = pool()
    with pytest.raises(KornewsError, match=message):
        call(probs, vectors)
