"""Evaluate a run on labelled data: predictions.csv into the run, then the report built from it."""
from pathlib import Path

from . import data, report, run as run_mod
from .cache import atomic_write_text
from .predict import Classifier, predictions_frame


def load_for(clf: Classifier, source: str, *, labeled: bool, encoding=None, split="test"):
    """Read `source` with the columns the run was trained with (or the dataset's own)."""
    path, default_cols = data.resolve(source, split)
    cols = clf.spec.columns or default_cols
    return data.load_articles(path, cols, mode=clf.mode, labeled=labeled, encoding=encoding)


def evaluate(run, source: str, *, encoding=None, progress=False) -> dict:
    run = run_mod.require(run, f"{run_mod.MODEL}/config.json")
    clf = Classifier.load(run)
    df = load_for(clf, source, labeled=True, encoding=encoding)
    # unseen labels are an error here, before any prediction is written
    data.LabelMap(clf.labels).encode(df["label"], source=source, rows=df["row"])
    frame = predictions_frame(clf, df, progress=progress)
    atomic_write_text(Path(run) / run_mod.PREDICTIONS, frame.to_csv(index=False))
    return report.build(run)
