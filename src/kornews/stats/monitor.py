"""Is new news still the news a run knows? A reference of what the run's held-out labelled articles look like to it,
and for a batch of new articles: an estimate of the run's accuracy without their labels, and tests of drift.

Accuracy is estimated twice and the two met halfway. Average thresholded confidence (ATC, Garg et al., 2022): on
the reference, the confidence threshold t above which as many articles lie as the run got right; on a batch, the
share above t. It is right where confidences fall with accuracy, and too low where a run is merely less sure but
still calibrated. The mean calibrated confidence is right there, and too high where a run is overconfident on a new
source (12 points on another portal's headlines). On the demo's run they err in opposite directions: knews8 test
+0.3 and -1.2 points, YNAT dev headlines -6 and +5 (docs/benchmarks.md, "Monitoring"). A run read as title + body
keeps a second reference for headlines alone (its reference articles' titles), as its calibration does: a headline
is compared with headlines. The interval spans both estimates' bootstrap intervals (over the reference and the
batch), so a small reference gives a wide one: calibrating on more labelled articles (`kornews calibrate RUN FILE`)
narrows it.

Drift is three two-sample tests against the reference: the predicted topic mix (chi-square on the two count
tables), the confidences (Kolmogorov-Smirnov, per kind of input), and the length of what the run read (KS on the log
of characters); a batch drifts when any p-value falls below `alpha` shared among the tests (Bonferroni). Where
sentence embeddings are given, a domain classifier's cross-validated AUC (reference against batch) and each
article's distance to its nearest reference article (out of distribution above the reference's own 95th
percentile) join them. Pure functions of arrays, plus the run's `reference.npz` (written by `commands.calibrate`).
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_bytes

FILE = "reference.npz"
KINDS = ("article", "headline")
ALPHA = 0.001       # a batch's tests together: one false alarm in a thousand batches of the reference's own news
MIN_TEST = 20       # fewer articles of a kind than this: no test of that kind (its p-value is 1)
AUC_DRIFT = 0.75    # the domain classifier tells batch from reference this well: the news has moved
OOD_QUANTILE = 0.95  # an article farther from the reference than 95% of reference articles are from the rest
DRAWS = 200


@dataclass
class Reference:
    """What a run's held-out labelled articles look like to it, per kind of input (`article`; `headline` for a run
    that reads title + body, from the same articles' titles alone)."""
    labels: list
    source: str                       # which articles: "validation split (64 articles)", or a labelled file
    confidence: dict                  # kind -> the calibrated top probability of each reference article
    correct: dict                     # kind -> whether its top topic was right
    topics: np.ndarray                # predicted topic counts over the reference articles
    lengths: np.ndarray               # characters the run read of each reference article
    texts: list = field(default_factory=list)  # the articles' text, for embeddings on demand

    @classmethod
    def fit(cls, labels, source: str, probs: np.ndarray, y, lengths, texts=(), headline_probs=None) -> "Reference":
        """`probs`: calibrated probabilities of the reference articles (labels `y`); `headline_probs`: of their
        titles alone (rows of articles with a title, `y` of those rows given as a second array) or None."""
        y = np.asarray(y)
        confidence, correct = {"article": probs.max(1)}, {"article": probs.argmax(1) == y}
        if headline_probs is not None:
            hp, hy = headline_probs
            confidence["headline"], correct["headline"] = hp.max(1), hp.argmax(1) == np.asarray(hy)
        return cls(list(labels), source, confidence, correct, np.bincount(probs.argmax(1), minlength=len(labels)),
                   np.asarray(lengths, dtype=np.int64), list(texts))

    @property
    def n(self) -> int:
        return len(self.lengths)

    def accuracy(self, kind: str = "article") -> float:
        return float(self.correct[kind].mean())

    def save(self, run) -> None:
        import io
        arrays = {f"{a}_{k}": v for a, d in (("confidence", self.confidence), ("correct", self.correct))
                  for k, v in d.items()}
        meta = json.dumps({"labels": self.labels, "source": self.source, "kinds": list(self.confidence)})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(meta), topics=self.topics, lengths=self.lengths,
                            texts=np.array(self.texts, dtype=str), **arrays)
        atomic_write_bytes(Path(run) / FILE, buffer.getvalue())

    @classmethod
    def load(cls, run) -> "Reference | None":
        path = Path(run) / FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                kinds = meta["kinds"]
                return cls(meta["labels"], meta["source"], {k: z[f"confidence_{k}"] for k in kinds},
                           {k: z[f"correct_{k}"].astype(bool) for k in kinds}, z["topics"], z["lengths"],
                           [str(t) for t in z["texts"]])
        except (OSError, ValueError, KeyError) as e:
            raise KornewsError(f"{path}: damaged monitoring reference ({e}); rewrite it with: "
                               f"kornews calibrate {run}") from None


@dataclass
class Assessment:
    """One batch against the reference. p-values: small means the batch differs (None: not tested)."""
    n: int
    estimated_accuracy: float
    interval: tuple
    mean_confidence: float            # one estimate: right for a run as calibrated here as on its reference
    atc_accuracy: float               # the other: right where the run's confidences moved as its accuracy did
    topic_mix: dict                   # topic -> share of the batch predicted as it
    topic_shift: float                # total variation distance from the reference's mix (0: same, 1: disjoint)
    topic_p: float
    confidence_p: float
    length_p: float
    embedding_auc: float | None = None
    ood_share: float | None = None
    drift: bool = False
    reasons: list = field(default_factory=list)


def atc(ref_confidence: np.ndarray, ref_correct: np.ndarray, confidence: np.ndarray) -> float:
    """The share of `confidence` above the threshold that as many reference articles exceed as were right."""
    if len(confidence) == 0:
        return float("nan")
    threshold = np.quantile(ref_confidence, 1 - ref_correct.mean())
    return float(np.mean(confidence > threshold))


def estimate(ref: Reference, confidence: np.ndarray, kinds: np.ndarray, draws: int = DRAWS, seed: int = 0):
    """(estimated accuracy, (low, high) 95% interval, ATC's estimate) of a batch. The estimate is the midpoint of
    ATC (each kind of input against its own reference, weighted by its share of the batch) and the mean calibrated
    confidence; the interval spans both one's and the other's bootstrap interval (over reference and batch)."""
    kinds = _known_kinds(ref, kinds)
    parts = [(k, confidence[kinds == k]) for k in KINDS if (kinds == k).any()]
    thresholded = sum(len(c) * atc(ref.confidence[k], ref.correct[k], c) for k, c in parts) / len(confidence)
    average = float(confidence.mean())
    rng = np.random.default_rng(seed)
    boot, mean = np.zeros(draws), np.zeros(draws)
    for k, c in parts:
        rc, rr = ref.confidence[k], ref.correct[k]
        for b in range(draws):
            i, j = rng.integers(0, len(rc), len(rc)), rng.integers(0, len(c), len(c))
            boot[b] += len(c) * atc(rc[i], rr[i], c[j])
            mean[b] += (rng.random(len(c)) < c[j]).sum()  # the articles' own luck: each right with its confidence
    (a_low, a_high), (m_low, m_high) = (np.percentile(x / len(confidence), [2.5, 97.5]) for x in (boot, mean))
    return (float((thresholded + average) / 2), (float(min(a_low, m_low)), float(max(a_high, m_high))),
            float(thresholded))


def _known_kinds(ref: Reference, kinds) -> np.ndarray:
    """Headlines of a run without a headline reference (a title-only or body-only run) count as its articles."""
    kinds = np.asarray(kinds, dtype=object)
    return np.where(np.isin(kinds, list(ref.confidence)), kinds, "article")


def assess(ref: Reference, top, confidence, lengths, kinds=None, embeddings: np.ndarray | None = None,
           ref_embeddings: np.ndarray | None = None, alpha: float = ALPHA) -> tuple[Assessment, np.ndarray | None]:
    """(the batch's assessment, each article's out-of-distribution score or None without embeddings); `top`,
    `confidence`: the run's topic id and calibrated top probability per article, `lengths`: characters it read of
    each article, `kinds`: "article" or "headline" per article (None: all articles)."""
    top, confidence = np.asarray(top), np.asarray(confidence, dtype=float)
    n = len(top)
    if n == 0:
        raise KornewsError("no articles to assess")
    kinds = _known_kinds(ref, ["article"] * n if kinds is None else kinds)
    accuracy, interval, thresholded = estimate(ref, confidence, kinds)
    counts = np.bincount(top, minlength=len(ref.labels))
    share, ref_share = counts / n, ref.topics / max(1, ref.topics.sum())
    tests = {"topic mix": _chi2(ref.topics, counts),
             "confidence": min([_ks(ref.confidence[k], confidence[kinds == k]) * len(KINDS) for k in KINDS
                                if k in ref.confidence] + [1.0]),
             "length": _ks(np.log1p(ref.lengths), np.log1p(np.asarray(lengths, dtype=float)))}
    auc = scores = None
    if embeddings is not None and ref_embeddings is not None:
        auc = domain_auc(ref_embeddings, embeddings)
        scores, limit = nearest_distance(ref_embeddings, embeddings)
    reasons = [f"{name}: p={p:.2g}" for name, p in tests.items() if p < alpha / len(tests)]
    if auc is not None and auc > AUC_DRIFT:
        reasons.append(f"embeddings: a classifier tells them from the reference (AUC {auc:.2f})")
    out = Assessment(n=n, estimated_accuracy=accuracy, interval=interval, mean_confidence=float(confidence.mean()),
                     atc_accuracy=thresholded,
                     topic_mix={t: float(s) for t, s in zip(ref.labels, share)},
                     topic_shift=float(0.5 * np.abs(share - ref_share).sum()), topic_p=tests["topic mix"],
                     confidence_p=tests["confidence"], length_p=tests["length"], embedding_auc=auc,
                     ood_share=None if scores is None else float(np.mean(scores > limit)),
                     drift=bool(reasons), reasons=reasons)
    return out, (None if scores is None else scores / limit)


def _chi2(ref_counts: np.ndarray, counts: np.ndarray) -> float:
    table = np.stack([ref_counts, counts])
    table = table[:, table.sum(0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0:
        return 1.0
    return float(stats.chi2_contingency(table)[1])


def _ks(reference: np.ndarray, batch: np.ndarray) -> float:
    if len(batch) < MIN_TEST or len(reference) < MIN_TEST:
        return 1.0
    return float(stats.ks_2samp(reference, batch).pvalue)


def domain_auc(reference: np.ndarray, batch: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated AUC of a logistic regression telling the batch's embeddings from the reference's (0.5: it
    cannot); each side capped at 1,000 articles drawn by `seed`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    rng = np.random.default_rng(seed)
    a, b = (x[rng.permutation(len(x))[:1000]] for x in (reference, batch))
    if min(len(a), len(b)) < folds:
        return 0.5
    x, y = np.concatenate([a, b]), np.r_[np.zeros(len(a)), np.ones(len(b))]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    p = cross_val_predict(LogisticRegression(max_iter=1000, class_weight="balanced"), x, y, cv=cv,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def nearest_distance(reference: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, float]:
    """(each batch article's cosine distance to its nearest reference article, the reference's own 95th
    percentile of that distance to the rest): unit vectors in, as `embedding.embed` gives."""
    own = reference @ reference.T
    np.fill_diagonal(own, -np.inf)
    limit = float(np.quantile(1 - own.max(1), OOD_QUANTILE))
    return 1 - (batch @ reference.T).max(1), max(limit, 1e-6)


def lengths_of(frame, fields) -> np.ndarray:
    """Characters a run read of each article: its mode's fields together."""
    return np.sum([frame[f].str.len().to_numpy() for f in fields], axis=0)
