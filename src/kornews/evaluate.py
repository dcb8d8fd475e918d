"""Evaluate a run on labelled data: predictions.csv into the run, then the report built from it."""
import sys
from pathlib import Path

from . import data, report, run as run_mod
from .cache import atomic_write_text
from .predict import Classifier, predictions_frame


def load_for(spec, source: str, *, labeled: bool, encoding=None, split="test"):
    """Read `source` as the run's `InputSpec` says: its training columns (or the dataset's own) and mode."""
    path, default_cols = data.resolve(source, split)
    return data.load_articles(path, spec.columns or default_cols, mode=spec.mode, labeled=labeled,
                              encoding=encoding)


def evaluate(run, source: str, *, encoding=None, progress=False, engine="auto") -> dict:
    run = run_mod.require(run, f"{run_mod.MODEL}/config.json")
    clf = Classifier.load(run, engine=engine)
    if progress:
        print(f"kornews: evaluating with {clf.engine.name}", file=sys.stderr)
    df = load_for(clf.spec, source, labeled=True, encoding=encoding)
    # unseen labels are an error here, before any prediction is written
    data.LabelMap(clf.labels).encode(df["label"], source=source, rows=df["row"])
    frame = predictions_frame(clf, df, progress=progress)
    atomic_write_text(Path(run) / run_mod.PREDICTIONS, frame.to_csv(index=False))
    return report.build(run)
