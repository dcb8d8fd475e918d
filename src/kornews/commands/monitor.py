"""`kornews monitor RUN FILE [FILE ...]`: is new news still the news RUN knows? One row per file (one a day, say):
articles, the run's estimated accuracy on them with its interval, how far their topic mix, confidences, lengths and
sentence embeddings moved from the run's reference (`stats.monitor`), the share out of distribution and the share
below the review threshold; a plot of them over the files; alerts when a bound the user sets is crossed."""
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.commands.calibrate import reference
from kornews.core.files import atomic_write_text
from kornews.data.modes import headline_only
from kornews.inference.classifier import Classifier, review_threshold
from kornews.model import embedding
from kornews.stats import monitor

EMBEDDER = "me5-small"  # the sentence embedding `adapt` and `choose` use: topic-blind, so it sees the news itself


@dataclass
class Row:
    """One file's figures."""
    file: str
    assessment: monitor.Assessment
    review_share: float | None
    alerts: list


def monitor_files(run, files, *, embeddings: bool = True, encoding=None, alpha: float = monitor.ALPHA,
                  min_accuracy: float | None = None, max_ood: float | None = None, plot=None, articles=None,
                  progress: bool = False, log=print) -> list[Row]:
    """A `Row` per file of `files`, in order; `embeddings`: also the embedding tests (an encoder pass per article,
    cached); `min_accuracy`, `max_ood`: alert below, above; `plot`: a PNG of the rows; `articles`: a CSV of each
    article's out-of-distribution score (1: as far from the reference as its farthest 5%) and flag."""
    clf = Classifier.load(run)
    ref = reference(run, clf)
    ref_vectors = embedding.embed(ref.texts, EMBEDDER) if embeddings and ref.texts else None
    threshold = review_threshold(clf, None)
    rows, per_article = [], []
    for file in files:
        frame = clf.read(file, labeled=False, encoding=encoding, quiet=True).frame
        probs = clf.scores(frame, progress=progress).probs
        kinds = np.where(headline_only(frame, clf.mode), "headline", "article")
        vectors = (embedding.embed(embedding.article_text(frame), EMBEDDER, progress=progress)
                   if ref_vectors is not None else None)
        lengths = monitor.lengths_of(frame, clf.spec.mode_row.fields)
        found, ood = monitor.assess(ref, probs.argmax(1), probs.max(1), lengths, kinds, vectors, ref_vectors, alpha)
        review = None if threshold is None else float(np.mean(probs.max(1) < threshold))
        alerts = list(found.reasons)
        if min_accuracy is not None and found.estimated_accuracy < min_accuracy:
            alerts.append(f"estimated accuracy {found.estimated_accuracy:.3f} below {min_accuracy}")
        if max_ood is not None and found.ood_share is not None and found.ood_share > max_ood:
            alerts.append(f"{found.ood_share:.1%} out of distribution, above {max_ood:.1%}")
        rows.append(Row(str(file), found, review, alerts))
        if ood is not None:
            per_article.append(pd.DataFrame({"file": str(file), "id": frame["id"], "ood_score": ood.round(4),
                                             "ood": ood > 1, "confidence": probs.max(1).round(6)}))
        log(line(rows[-1]))
    if articles is not None and per_article:
        atomic_write_text(Path(articles), pd.concat(per_article).to_csv(index=False))
    if plot is not None:
        draw(rows, Path(plot))
    log(f"reference: {ref.source}, estimated accuracy there {ref.accuracy():.3f} (its truth)")
    return rows


def line(row: Row) -> str:
    a = row.assessment
    low, high = a.interval
    parts = [f"{row.file}: {a.n} articles", f"estimated accuracy {a.estimated_accuracy:.3f} [{low:.3f}, {high:.3f}]",
             f"topic shift {a.topic_shift:.3f} (p {a.topic_p:.2g})", f"confidence p {a.confidence_p:.2g}",
             f"length p {a.length_p:.2g}"]
    if a.embedding_auc is not None:
        parts.append(f"embedding AUC {a.embedding_auc:.2f}, {a.ood_share:.1%} out of distribution")
    if row.review_share is not None:
        parts.append(f"{row.review_share:.1%} for review")
    return "; ".join(parts) + (f" — ALERT: {'; '.join(row.alerts)}" if row.alerts else "")


def as_dict(row: Row) -> dict:
    return {"file": row.file, **asdict(row.assessment), "review_share": row.review_share, "alerts": row.alerts}


def draw(rows: list[Row], path: Path) -> None:
    """Estimated accuracy with its interval, topic shift and out-of-distribution share, one point per file."""
    from kornews.core.plots import pyplot, save
    plt, _ = pyplot()
    x = np.arange(len(rows))
    est = np.array([r.assessment.estimated_accuracy for r in rows])
    low, high = (np.array([r.assessment.interval[i] for r in rows]) for i in (0, 1))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(rows) + 3), 3.6))
    ax.fill_between(x, low, high, alpha=0.2, label="95% interval")
    ax.plot(x, est, "o-", label="estimated accuracy")
    ax.plot(x, [r.assessment.topic_shift for r in rows], "s--", label="topic shift")
    if rows and rows[0].assessment.ood_share is not None:
        ax.plot(x, [r.assessment.ood_share for r in rows], "^:", label="out of distribution")
    for i, r in enumerate(rows):
        if r.alerts:
            ax.axvline(i, color="red", alpha=0.15, linewidth=8)
    ax.set_xticks(x, [Path(r.file).stem[:14] for r in rows], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("monitor (red: alert)")
    save(fig, path)
    plt.close(fig)
