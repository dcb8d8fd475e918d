"""Adapting a run to unlabelled articles of another source: pure functions of probabilities, plus the run's
`adaptation.json` (written by `commands.adapt`, read by `Classifier`).

- Prior correction (Saerens, Latinne & Decaestecker, 2002): the topic mix of the target is re-estimated by EM on
  the run's calibrated probabilities, and every probability is re-weighted by target prior / training prior.
- Label spreading over the target's own neighbour graph (from a sentence encoder, an independent view), then
  pseudo-labels for self-training: the articles surest after spreading, at most `per_topic` per topic, above a
  confidence threshold.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text

FILE = "adaptation.json"
METHODS = ("prior", "self-train", "self-train+prior")
# ends EM once no prior moves by more than this; the priors it finds are rounded to 6 digits anyway
EM_TOLERANCE = 1e-7
EM_MAX_ITER = 1000
# a topic EM finds absent keeps this share: overwhelming evidence can still name it, and the shift stays invertible
# (the report recovers the unshifted probabilities from predictions.csv's 6-digit columns)
PRIOR_FLOOR = 1e-4
# label spreading over the target's neighbours: chosen on YNAT dev headlines with a knews8 run (alpha 0.5/0.8/0.9,
# k 10/30: 0.80 and 30 best, 0.70 → 0.74; higher alpha washed the run's own evidence out)
SPREAD_ALPHA = 0.8
SPREAD_ITERATIONS = 20


def shift(probs: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Posteriors under training prior `source` turned into posteriors under `target`: p ∝ p · target / source."""
    weighted = probs * (np.asarray(target, dtype=np.float64) / np.asarray(source, dtype=np.float64))
    total = weighted.sum(axis=1, keepdims=True)
    return weighted / np.where(total > 0, total, 1.0)


def em_priors(probs: np.ndarray, source: np.ndarray, max_iter: int = EM_MAX_ITER,
              tol: float = EM_TOLERANCE) -> tuple[np.ndarray, int]:
    """The target's topic mix that explains `probs` (posteriors under training prior `source`): the EM of Saerens
    et al. (2002), which alternates re-weighted posteriors and their mean. Returns (priors, iterations)."""
    probs = np.asarray(probs, dtype=np.float64)
    source = check_prior(source, probs.shape[1], "training prior")
    if len(probs) == 0:
        raise KornewsError("prior correction needs at least one article")
    prior = source.copy()
    for iteration in range(1, max_iter + 1):
        new = shift(probs, source, prior).mean(axis=0)
        done = np.abs(new - prior).max() < tol
        prior = new
        if done:
            break
    return prior, iteration


def check_prior(prior, n: int, what: str = "prior") -> np.ndarray:
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != (n,) or not np.isfinite(prior).all() or (prior < 0).any() or not prior.sum() > 0:
        raise KornewsError(f"{what} must be {n} non-negative numbers with a positive sum, got {prior.tolist()}")
    if (prior == 0).any() and what == "training prior":
        raise KornewsError(f"{what} gives a topic no weight: every topic needs training articles")
    return prior / prior.sum()


def neighbours(vectors: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """(n, k) indices of each row's k most similar other rows (`vectors` unit rows: cosine), in row chunks so
    45,000 headlines never need the whole n x n matrix."""
    n = len(vectors)
    if not 1 <= k < n:
        raise KornewsError(f"neighbours: k must be in [1, {n - 1}] for {n} articles, got {k}")
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        sims = vectors[start:start + chunk] @ vectors.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # never one's own neighbour
        out[start:start + chunk] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return out


def spread(probs: np.ndarray, graph: np.ndarray, alpha: float = SPREAD_ALPHA,
           iterations: int = SPREAD_ITERATIONS) -> np.ndarray:
    """Label spreading over a neighbour graph (Zhou et al., 2004): each article's distribution becomes `alpha` of
    its neighbours' mean plus the rest of its own, repeated. A second view of the articles (a sentence encoder's
    neighbours) corrects what the run confuses alone: on YNAT dev 0.671 → 0.738 (k 30; docs/benchmarks.md)."""
    if not 0 <= alpha < 1:
        raise KornewsError(f"spreading weight must be in [0, 1), got {alpha}")
    q = probs.astype(np.float64)
    for _ in range(iterations):
        q = alpha * q[graph].mean(axis=1) + (1 - alpha) * probs
    return q / q.sum(axis=1, keepdims=True)


def pseudo_labels(probs: np.ndarray, per_topic: int, min_confidence: float = 0.0) -> np.ndarray:
    """Indices of the articles to self-train on: per predicted topic, the `per_topic` surest whose top probability
    is at least `min_confidence`; sorted, so the pick does not depend on the order of topics."""
    if per_topic < 1:
        raise KornewsError(f"per_topic must be at least 1, got {per_topic}")
    top, pred = probs.max(axis=1), probs.argmax(axis=1)
    chosen = []
    for topic in range(probs.shape[1]):
        mine = np.flatnonzero((pred == topic) & (top >= min_confidence))
        chosen.append(mine[np.argsort(-top[mine], kind="stable")[:per_topic]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class PriorShift:
    """What RUN/adaptation.json holds: the training prior and the target's, in the order of the run's labels."""
    labels: list
    source: list          # topic shares of the training data
    target: list          # topic shares of the target, estimated by EM
    fitted_on: str        # which unlabelled articles
    n: int
    iterations: int

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return shift(probs, np.asarray(self.source), np.asarray(self.target))

    def undo(self, probs: np.ndarray) -> np.ndarray:
        return shift(probs, np.asarray(self.target), np.asarray(self.source))

    def save(self, run) -> None:
        atomic_write_text(Path(run) / FILE, json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n")

    @classmethod
    def load(cls, run, labels=None) -> "PriorShift | None":
        """The run's prior shift, None where it has none; `labels` (the model's) must be the ones it was fitted for."""
        path = Path(run) / FILE
        if not path.is_file():
            return None
        try:
            found = cls(**json.loads(path.read_text(encoding="utf-8")))
            check_prior(found.source, len(found.labels), "training prior")
            check_prior(found.target, len(found.labels), "target prior")
        except (ValueError, TypeError, KornewsError) as e:
            raise KornewsError(f"{path}: damaged prior correction ({e})") from None
        if labels is not None and list(labels) != list(found.labels):
            raise KornewsError(f"{path}: fitted for the labels {found.labels}, the model has {list(labels)}")
        return found


def fit_shift(probs: np.ndarray, source, labels, fitted_on: str) -> PriorShift:
    """A prior shift from calibrated probabilities of unlabelled target articles."""
    source = check_prior(source, probs.shape[1], "training prior")
    target, iterations = em_priors(probs, source)
    target = np.maximum(target, PRIOR_FLOOR)
    return PriorShift(list(labels), [round(float(x), 6) for x in source],
                      [round(float(x), 6) for x in target / target.sum()], fitted_on, int(len(probs)), iterations)
