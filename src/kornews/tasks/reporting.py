"""`kornews report`: report.json, report.md and plots/ of a run, rebuilt from its saved predictions (no model)."""
import pandas as pd

from .. import rundir
from ..errors import KornewsError
from ..files import atomic_write_text
from ..labels import LabelMap
from ..metrics import compute, markdown
from ..plots import plot_confusion, plot_curves


def build_report(run) -> dict:
    """Rebuild report.json, report.md and plots/ from predictions.csv (and metrics.jsonl)."""
    run = rundir.require(run, rundir.PREDICTIONS, f"{rundir.MODEL}/config.json")
    preds = pd.read_csv(run / rundir.PREDICTIONS, dtype=str, keep_default_na=False)
    if "label" not in preds:
        raise KornewsError(f"{run / rundir.PREDICTIONS}: no 'label' column (predictions of unlabelled data)")
    labels = LabelMap.from_dict(rundir.read_json(run / rundir.MODEL / "config.json")).labels
    metrics = compute(preds["label"], preds["pred"], labels)
    parts = [name for name in ("encoder", "tfidf") if f"pred_{name}" in preds]
    if parts:  # a hybrid run: each part alone beside the fusion
        metrics["parts"] = {name: {k: v for k, v in compute(preds["label"], preds[f"pred_{name}"], labels).items()
                                   if k in ("accuracy", "macro")} for name in parts}
    folder = run / rundir.PLOTS
    note = plot_confusion(metrics, folder / "confusion.png")
    if note:
        metrics["font_note"] = note
    history = rundir.read_metrics(run)
    if history:
        plot_curves(history, folder / "learning_curves.png")
    rundir.write_json(run / "report.json", metrics)
    atomic_write_text(run / "report.md", markdown(metrics, f"Evaluation of {run.name}"))
    return metrics
