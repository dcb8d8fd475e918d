"""`kornews report`: report.json, report.md and plots/ of a run, rebuilt from its saved predictions (no model)."""
import pandas as pd

from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.core.plots import (
    plot_confusion,
    plot_coverage,
    plot_curves,
    plot_reliability,
)
from kornews.data.labels import LabelMap
from kornews.stats import confidence
from kornews.stats.metrics import compute, markdown
from kornews.stats.transfer import PriorShift


def build_report(run, source: str | None = None) -> dict:
    """Rebuild report.json, report.md and plots/ from predictions.csv (and metrics.jsonl); `source`: what the
    predictions are of (default: what the last report said)."""
    run = rundir.require(run, rundir.PREDICTIONS, f"{rundir.MODEL}/config.json")
    preds = pd.read_csv(run / rundir.PREDICTIONS, dtype=str, keep_default_na=False)
    if "label" not in preds:
        raise KornewsError(f"{run / rundir.PREDICTIONS}: no 'label' column (predictions of unlabelled data)")
    labels = LabelMap.from_dict(rundir.read_json(run / rundir.MODEL / "config.json")).labels
    metrics = compute(preds["label"], preds["pred"], labels)
    metrics["source"] = source or (_previous(run) or {}).get("source")
    parts = [name for name in ("encoder", "tfidf") if f"pred_{name}" in preds]
    if parts:  # a hybrid run: each part alone beside the fusion
        metrics["parts"] = {name: {k: v for k, v in compute(preds["label"], preds[f"pred_{name}"], labels).items()
                                   if k in ("accuracy", "macro")} for name in parts}
    probs = preds[[f"p_{name}" for name in labels]].astype(float).to_numpy()
    fitted, shift = confidence.Calibration.load(run), PriorShift.load(run, labels)
    raw = shift.undo(probs) if shift else probs  # the saved p_ are tempered, then shifted where the run was adapted
    headline = preds["headline"].astype(str).eq("True").to_numpy() if "headline" in preds else None
    raw = fitted.undo(raw, headline) if fitted else raw
    metrics["confidence"] = confidence.confidence_report(raw, probs, LabelMap(labels).encode(preds["label"]), fitted)
    folder = run / rundir.PLOTS
    plot_reliability(metrics["confidence"], folder / "reliability.png")
    plot_coverage(metrics["confidence"], folder / "coverage.png")
    note = plot_confusion(metrics, folder / "confusion.png")
    if note:
        metrics["font_note"] = note
    history = rundir.read_metrics(run)
    if history:
        plot_curves(history, folder / "learning_curves.png")
    rundir.write_json(run / "report.json", metrics)
    atomic_write_text(run / "report.md", markdown(metrics, f"Evaluation of {run.name}"))
    return metrics


def _previous(run) -> dict | None:
    try:
        return rundir.read_json(run / "report.json")
    except KornewsError:
        return None
