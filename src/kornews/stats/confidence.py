"""Confidence a user can act on: a temperature fitted on labelled articles, the calibration error it leaves, and
the accuracy-coverage trade of a review threshold. Pure functions of probabilities and labels, plus the run's
`calibration.json` (written by `commands.calibrate`, read by `Classifier`).

The temperature T rescales the final log-probabilities, p ∝ exp(log p_raw / T): for an encoder alone that is
softmax(logits / T); for a hybrid it calibrates the fused output, the probabilities a user sees. A run read as title
+ body also gets a headline temperature, fitted on the same articles' titles alone: a headline without its body is
the input such a run is least sure of, and one temperature for both leaves headlines overconfident
(docs/benchmarks.md, "Confidence").

Top-label scaling (method "top-label") replaces the articles' temperature by two numbers: the top topic's
probability becomes sigmoid(a · logit(p_top) + b), fitted by log-loss on whether the top topic was right, the other
topics scaled to fill the rest. One temperature moves every confidence the same way; the raw model is overconfident
between 0.5 and 0.8 and underconfident above 0.9, which a > 1 with b < 0 corrects (docs/benchmarks.md,
"Calibration on 1,600 held-out articles"). The top topic never changes.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text

FILE = "calibration.json"
BINS = 10
METHODS = ("temperature", "top-label")
FLOOR_SLOPE = 0.1   # top-label: a top never mapped below its runner-up, yet still rising with the raw top (invertible)
TIE_MARGIN = 1e-9   # ... and kept a hair above it, so that rounding cannot hand a tied article the runner-up
COVERAGE_TARGETS = (0.90, 0.95, 0.98)   # accuracies a user may want: how much is kept at each
COVERAGES = (0.5, 0.8, 0.9)             # shares a user may keep: how accurate they are


def tempered(probs: np.ndarray, temperature) -> np.ndarray:
    """`probs` under temperature T (1: unchanged); T a number, or one per row."""
    t = np.asarray(temperature, dtype=float)
    z = np.log(np.clip(probs, 1e-12, None)) / (t.reshape(-1, 1) if t.ndim else t)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, y) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(y)), np.asarray(y)], 1e-12, None)).mean())


def fit_temperature(probs: np.ndarray, y) -> float:
    """The T that minimises the log-loss of `probs` on labels `y` (ids); NLL is convex in 1/T, so a bounded
    scalar search finds it."""
    from scipy.optimize import minimize_scalar
    y = np.asarray(y)
    if len(y) < 2:
        raise KornewsError(f"calibration needs at least 2 labelled articles, got {len(y)}")
    found = minimize_scalar(lambda log_t: nll(tempered(probs, float(np.exp(log_t))), y), bounds=(-3.0, 3.0),
                            method="bounded", options={"xatol": 1e-4})
    return round(float(np.exp(found.x)), 4)


def _logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def fit_top_label(probs: np.ndarray, y) -> tuple[float, float]:
    """(a, b) of P(top topic right) = sigmoid(a · logit(top probability) + b), by log-loss on labels `y` (ids);
    bounded so that one odd validation split cannot flatten or invert the confidences."""
    from scipy.optimize import minimize
    z, right = _logit(probs.max(1)), (probs.argmax(1) == np.asarray(y)).astype(float)

    def loss(ab):
        q = np.clip(1 / (1 + np.exp(-(ab[0] * z + ab[1]))), 1e-12, 1 - 1e-12)
        return -np.mean(right * np.log(q) + (1 - right) * np.log(1 - q))
    found = minimize(loss, [1.0, 0.0], method="L-BFGS-B", bounds=[(0.2, 5.0), (-5.0, 5.0)])
    return round(float(found.x[0]), 4), round(float(found.x[1]), 4)


def _top_and_floor(probs: np.ndarray):
    """Rows, the top topic of each, its probability, the mass of the others, and the top probability at which the
    top would tie with the runner-up once the others are rescaled (the same before and after the mapping)."""
    probs = np.asarray(probs, dtype=np.float64)  # float32 rounding alone is larger than the margin above a tie
    rows, top_j = np.arange(len(probs)), probs.argmax(1)
    top = probs[rows, top_j]
    rest = np.maximum(1 - top, 1e-12)
    ratio = np.sort(probs, 1)[:, -2] / rest if probs.shape[1] > 1 else np.zeros(len(probs))
    return rows, top_j, top, rest, ratio / (1 + ratio)


def _with_top(probs, rows, top_j, rest, new) -> np.ndarray:
    out = np.asarray(probs, dtype=np.float64) * ((1 - new) / rest)[:, None]
    out[rows, top_j] = new
    return out


def top_label_scaled(probs: np.ndarray, a: float, b: float) -> np.ndarray:
    """`probs` with each top probability mapped to sigmoid(a · logit(top) + b), the other topics rescaled to the
    rest; where the mapping would sink the top under its runner-up it stays just above the tie instead."""
    rows, top_j, top, rest, tie = _top_and_floor(probs)
    mapped = 1 / (1 + np.exp(-(a * _logit(top) + b)))
    return _with_top(probs, rows, top_j, rest, np.maximum(mapped, tie + FLOOR_SLOPE * (top - tie) + TIE_MARGIN))


def top_label_unscaled(probs: np.ndarray, a: float, b: float) -> np.ndarray:
    """The inverse of `top_label_scaled` (both branches of its max rise with the raw top, so the min of their
    inverses undoes it); a top tied with its runner-up stays on top, as it was predicted."""
    rows, top_j, new, rest, tie = _top_and_floor(probs)
    by_map = 1 / (1 + np.exp(-((_logit(new, 1e-15) - b) / a)))
    top = np.minimum(by_map, tie + (new - tie - TIE_MARGIN) / FLOOR_SLOPE)
    return _with_top(probs, rows, top_j, rest, np.clip(top, tie + TIE_MARGIN, 1))


def reliability(probs: np.ndarray, y, bins: int = BINS) -> list[dict]:
    """Per confidence bin (equal width over the top probability): articles, mean confidence, accuracy."""
    top, right = probs.max(1), probs.argmax(1) == np.asarray(y)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1]), 0, bins - 1)
    return [{"low": round(float(edges[b]), 2), "high": round(float(edges[b + 1]), 2), "n": int((which == b).sum()),
             "confidence": float(top[which == b].mean()) if (which == b).any() else None,
             "accuracy": float(right[which == b].mean()) if (which == b).any() else None} for b in range(bins)]


def ece(probs: np.ndarray, y, bins: int = BINS) -> float:
    """Expected calibration error: the article-weighted gap between confidence and accuracy over the bins."""
    rows = reliability(probs, y, bins)
    n = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["confidence"] - r["accuracy"]) for r in rows if r["n"]) / max(n, 1))


def ece_floor(probs: np.ndarray, bins: int = BINS, draws: int = 500, seed: int = 0) -> float:
    """The ECE that a perfectly calibrated model with these confidences shows on this many articles, on average
    (each article right with probability its top probability): on a few hundred articles ECE is biased upwards by
    sampling alone, and a measured error near this floor is noise, not miscalibration."""
    top = probs.max(1)
    which = np.clip(np.digitize(top, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    right = np.random.default_rng(seed).random((draws, len(top))) < top
    gaps = np.stack([np.bincount(which, weights=top - r, minlength=bins) for r in right])  # per draw, per bin
    return float(np.abs(gaps).sum(1).mean() / max(len(top), 1))


def accuracy_coverage(probs: np.ndarray, y) -> dict:
    """What a review threshold buys: keeping the articles whose top probability is at least t, for every t.

    `curve`: (threshold, coverage, accuracy) from the surest article down; `at_accuracy`: the largest coverage whose
    kept articles reach each target accuracy, and its threshold; `at_coverage`: the accuracy at each kept share."""
    top, right = probs.max(1), (probs.argmax(1) == np.asarray(y)).astype(float)
    order = np.argsort(-top, kind="stable")
    kept = np.arange(1, len(top) + 1)
    accuracy = np.cumsum(right[order]) / kept
    coverage, thresholds = kept / len(top), top[order]
    at_accuracy = {}
    for target in COVERAGE_TARGETS:
        ok = np.flatnonzero(accuracy >= target)
        i = ok[-1] if len(ok) else None
        at_accuracy[f"{target:.2f}"] = None if i is None else {
            "coverage": round(float(coverage[i]), 4), "threshold": round(float(thresholds[i]), 4)}
    at_coverage = {f"{c:.2f}": round(float(accuracy[max(0, int(np.ceil(c * len(top))) - 1)]), 4) for c in COVERAGES}
    step = max(1, len(top) // 200)  # enough points for a plot, not one per article
    curve = [(round(float(thresholds[i]), 4), round(float(coverage[i]), 4), round(float(accuracy[i]), 4))
             for i in range(0, len(top), step)]
    return {"at_accuracy": at_accuracy, "at_coverage": at_coverage, "curve": curve}


@dataclass(frozen=True)
class Calibration:
    """What RUN/calibration.json holds."""
    temperature: float
    fitted_on: str                 # which articles chose T
    n: int
    ece_before: float
    ece_after: float               # after what applies: the temperature, or top-label scaling where fitted
    min_confidence: float | None = None   # a default review threshold, chosen on the same articles
    target_accuracy: float | None = None  # the accuracy that threshold reaches there
    headline_temperature: float | None = None  # title + body runs: for articles given as a headline alone
    headline_ece_before: float | None = None   # on the same articles' titles alone
    headline_ece_after: float | None = None
    top_label: tuple[float, float] | None = None  # (a, b): top-label scaling, applied instead of `temperature`
    temperature_ece_after: float | None = None    # with top-label scaling: what the temperature alone would leave

    @property
    def method(self) -> str:
        return "top-label" if self.top_label is not None else "temperature"

    def temperatures(self, headline=None) -> np.ndarray | float:
        """The temperature of each article (`headline`: which are headlines alone), or the one temperature."""
        if headline is None or self.headline_temperature is None:
            return self.temperature
        return np.where(np.asarray(headline, dtype=bool), self.headline_temperature, self.temperature)

    def _scaled_rows(self, n: int, headline) -> np.ndarray:
        """Which rows get top-label scaling: all but headlines alone, which keep their own temperature."""
        if headline is None or self.headline_temperature is None:
            return np.ones(n, dtype=bool)
        return ~np.asarray(headline, dtype=bool)

    def apply(self, probs: np.ndarray, headline=None) -> np.ndarray:
        out = tempered(probs, self.temperatures(headline))
        if self.top_label is not None:
            rows = self._scaled_rows(len(probs), headline)
            out[rows] = top_label_scaled(probs[rows], *self.top_label)
        return out

    def undo(self, probs: np.ndarray, headline=None) -> np.ndarray:
        out = tempered(probs, 1 / np.asarray(self.temperatures(headline)))
        if self.top_label is not None:
            rows = self._scaled_rows(len(probs), headline)
            out[rows] = top_label_unscaled(probs[rows], *self.top_label)
        return out

    def save(self, run) -> None:
        atomic_write_text(Path(run) / FILE, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, run) -> "Calibration | None":
        path = Path(run) / FILE
        if not path.is_file():
            return None
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            if values.get("top_label") is not None:
                values["top_label"] = tuple(float(v) for v in values["top_label"])
            calibration = cls(**values)
        except (ValueError, TypeError) as e:
            raise KornewsError(f"{path}: damaged calibration ({e}); refit it with: kornews calibrate {run}") from None
        for t in (calibration.temperature, calibration.headline_temperature):
            if t is not None and not (isinstance(t, (int, float)) and t > 0):
                raise KornewsError(f"{path}: temperatures must be positive, got {t!r}")
        top = calibration.top_label
        if top is not None and not (len(top) == 2 and top[0] > 0 and all(np.isfinite(top))):
            raise KornewsError(f"{path}: top_label must be [a, b] with a > 0, got {list(top)!r}")
        return calibration


def check_method(method: str) -> str:
    if method not in METHODS:
        raise KornewsError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def fit(probs: np.ndarray, y, fitted_on: str, target_accuracy: float | None = 0.95,
        headlines: tuple[np.ndarray, np.ndarray] | None = None, method: str = "temperature") -> Calibration:
    """A calibration from raw probabilities of labelled articles: the temperature (and with method "top-label" the
    two numbers applied instead), the error before and after, and the review threshold that keeps the most articles
    at `target_accuracy` (None: no threshold). `headlines`: (raw probabilities, labels) of the same articles' titles
    alone: they fit the headline temperature. Top-label scaling needs right and wrong tops to learn from: where the
    articles have only one kind, the temperature stays."""
    check_method(method)
    temperature = fit_temperature(probs, y)
    after = tempered(probs, temperature)
    top_label = by_temperature = None
    right = probs.argmax(1) == np.asarray(y)
    if method == "top-label" and 0 < right.sum() < len(right):
        top_label, by_temperature = fit_top_label(probs, y), round(ece(after, y), 6)
        after = top_label_scaled(probs, *top_label)
    threshold = None
    if target_accuracy is not None:
        found = accuracy_coverage(after, y)["at_accuracy"].get(f"{target_accuracy:.2f}")
        threshold = found["threshold"] if found else None
    headline = {}
    if headlines is not None:
        p_h, y_h = headlines
        t = fit_temperature(p_h, y_h)
        headline = {"headline_temperature": t, "headline_ece_before": round(ece(p_h, y_h), 6),
                    "headline_ece_after": round(ece(tempered(p_h, t), y_h), 6)}
    return Calibration(temperature, fitted_on, len(np.asarray(y)), round(ece(probs, y), 6), round(ece(after, y), 6),
                       threshold, target_accuracy if threshold is not None else None, **headline,
                       top_label=top_label, temperature_ece_after=by_temperature)


def confidence_report(raw: np.ndarray, probs: np.ndarray, y, calibration: Calibration | None) -> dict:
    """How far the probabilities a user got can be trusted on labelled articles: calibration error before and
    after the run's temperature and its floor on this many articles, mean confidence against accuracy, reliability
    bins, the accuracy-coverage table."""
    return {"temperature": calibration.temperature if calibration else None,
            "method": calibration.method if calibration else None,
            "top_label": list(calibration.top_label) if calibration and calibration.top_label else None,
            "ece_before": round(ece(raw, y), 6), "ece_after": round(ece(probs, y), 6) if calibration else None,
            "ece_floor": round(ece_floor(probs), 6), "mean_confidence": round(float(probs.max(1).mean()), 6),
            "min_confidence": calibration.min_confidence if calibration else None,
            "reliability": reliability(probs, y), **accuracy_coverage(probs, y)}


def markdown(report: dict) -> list[str]:
    """The report's confidence section."""
    t, top = report["temperature"], report.get("top_label")
    how = (f"top-label scaling (a {top[0]:.3f}, b {top[1]:.3f})" if top else f"temperature {t:.3f}") if t else None
    lines = ["", "Confidence", "",
             f"Calibration error (ECE, {BINS} bins): {report['ece_before']:.4f} raw" +
             (f", {report['ece_after']:.4f} after the run's {how}" if t else " (the run has no "
              "temperature: `kornews calibrate RUN`)") + f"; mean top probability {report['mean_confidence']:.4f}." +
             (f" On {sum(b['n'] for b in report['reliability'])} articles a perfectly calibrated model would show "
              f"about {report['ece_floor']:.4f} from sampling alone." if report.get("ece_floor") is not None else ""),
             "", "| keep articles whose top probability is at least | share kept | accuracy kept |", "|---:|---:|---:|"]
    for target, found in report["at_accuracy"].items():
        lines.append(f"| {found['threshold']:.4f} | {found['coverage']:.1%} | ≥ {float(target):.0%} |" if found else
                     f"| - | none | ≥ {float(target):.0%} not reached |")
    lines += ["", "| share kept (surest first) | accuracy |", "|---:|---:|"]
    lines += [f"| {float(c):.0%} | {a:.4f} |" for c, a in report["at_coverage"].items()]
    return lines
