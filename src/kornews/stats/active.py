"""Which unlabelled articles are worth a person's label: pure functions of a run's calibrated probabilities and the
articles' sentence embeddings (unit rows), no model and no I/O.

    choose(n, probs, vectors, strategy, seed, labelled)   the indices to label, in the order to show them

Strategies: `random` (the baseline), `uncertainty` (smallest margin between the top two calibrated probabilities),
`diversity` (k-means with n clusters over the embeddings, the most typical article of each: TypiClust's idea for a
cold start) and `default`, uncertainty within diversity: the same n clusters, from each the article the run is least
sure of, so every label is both informative and from a different corner of the pool. Articles already labelled and
near-duplicates (cosine above `DUPLICATE` of a labelled or an already chosen one) are never chosen.
"""
import numpy as np
from sklearn.cluster import KMeans

from kornews.core.errors import KornewsError

STRATEGIES = ("default", "uncertainty", "diversity", "random")
DUPLICATE = 0.95   # cosine of two me5-small embeddings above which two articles count as one story told twice
CHUNK = 2048       # rows compared at once: 45,000 headlines never need the whole n x n matrix


def margin(probs: np.ndarray) -> np.ndarray:
    """Top probability minus the runner-up's, per row: small where the run hesitates between two topics."""
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def near(vectors: np.ndarray, others: np.ndarray, threshold: float = DUPLICATE) -> np.ndarray:
    """(n,) bool: rows of `vectors` whose cosine with some row of `others` exceeds `threshold`."""
    out = np.zeros(len(vectors), dtype=bool)
    if len(others) == 0:
        return out
    for start in range(0, len(vectors), CHUNK):
        out[start:start + CHUNK] = (vectors[start:start + CHUNK] @ others.T).max(axis=1) > threshold
    return out


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise KornewsError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    return strategy


def choose(n: int, probs: np.ndarray, vectors: np.ndarray, strategy: str = "default", seed: int = 0,
           labelled=()) -> np.ndarray:
    """Indices of `n` articles to label, best first; `labelled`: indices already labelled (never chosen, and their
    near-duplicates neither). Fewer than `n` where the pool has fewer distinct articles left."""
    check_strategy(strategy)
    if n < 1:
        raise KornewsError(f"n must be at least 1, got {n}")
    if len(probs) != len(vectors):
        raise KornewsError(f"{len(probs)} probability rows for {len(vectors)} embeddings")
    labelled = np.asarray(sorted(set(int(i) for i in labelled)), dtype=np.int64)
    free = np.ones(len(probs), dtype=bool)
    free[labelled] = False
    free &= ~near(vectors, vectors[labelled])
    candidates = np.flatnonzero(free)
    rng = np.random.default_rng(seed)
    if strategy == "random":
        ranked = [rng.permutation(candidates)]
    elif strategy == "uncertainty":
        ties = rng.random(len(candidates))  # equal margins in a seeded order
        ranked = [candidates[np.lexsort((ties, margin(probs[candidates])))]]
    else:
        ranked = _per_cluster(min(n, len(candidates)), probs, vectors, candidates, strategy, seed)
    return _distinct(ranked, vectors, n)


def _per_cluster(k: int, probs, vectors, candidates, strategy: str, seed: int) -> list[np.ndarray]:
    """The candidates of each of k k-means clusters, best first within a cluster (diversity: the most typical, nearest
    its centroid; default: the least sure), biggest cluster first."""
    if k == 0:
        return []
    km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=seed).fit(vectors[candidates])
    out = []
    for c in np.argsort(-np.bincount(km.labels_, minlength=k), kind="stable"):
        members = candidates[km.labels_ == c]
        if strategy == "diversity":
            key = -(vectors[members] @ km.cluster_centers_[c])
        else:
            key = margin(probs[members])
        out.append(members[np.argsort(key, kind="stable")])
    return out


def _distinct(ranked: list[np.ndarray], vectors, n: int) -> np.ndarray:
    """Round-robin over the ranked lists (one list: in its order), skipping near-duplicates of what was taken."""
    chosen: list[int] = []
    cursors = [0] * len(ranked)
    while len(chosen) < n and any(cur < len(r) for cur, r in zip(cursors, ranked)):
        for i, r in enumerate(ranked):
            while cursors[i] < len(r):
                j = int(r[cursors[i]])
                cursors[i] += 1
                if not chosen or not near(vectors[[j]], vectors[chosen])[0]:
                    chosen.append(j)
                    break
            if len(chosen) == n:
                break
    return np.asarray(chosen, dtype=np.int64)
