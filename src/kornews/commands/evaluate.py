"""`kornews evaluate RUN DATA`: predictions.csv into the run, then the report built from it."""
import sys
from pathlib import Path

from kornews.commands.report import build_report
from kornews.core import rundir
from kornews.core.files import atomic_write_text
from kornews.data.labels import LabelMap
from kornews.inference.classifier import Classifier, predictions_frame
from kornews.training import card


def evaluate(run, source, *, encoding=None, progress=False, engine="auto", device="auto") -> dict:
    run = rundir.require(run, f"{rundir.MODEL}/config.json")
    clf = Classifier.load(run, engine=engine, device=device)
    if progress:
        print(f"kornews: evaluating with {clf.engine.name}", file=sys.stderr)
    df = clf.read(source, labeled=True, split="test", encoding=encoding).frame
    # unseen labels are an error here, before any prediction is written
    LabelMap(clf.labels).encode(df["label"], source=source, rows=df["row"])
    frame = predictions_frame(clf, df, progress=progress)
    atomic_write_text(Path(run) / rundir.PREDICTIONS, frame.to_csv(index=False))
    metrics = build_report(run, source=str(source))
    if (Path(run) / rundir.CONFIG).is_file():  # a bare model directory has no recipe to describe
        card.write(run)
    return metrics
