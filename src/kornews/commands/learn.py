"""`kornews learn RUN LABELS --out DIR`: the run taught an editor's labelled articles, written as an ordinary run
directory whose config.yaml says what it was taught and from where (`learn:`).

    1. the plan: the source run's recipe with the `learn:` block, checked before anything is trained   DIR/learn/
    2. training continues the source run (head included; a new topic gets a new row) on its own training split
       plus the editor's labels; the held-out share of those labels chooses the epoch and fits the calibration
    3. the estimate: the learned run and its source on the held-out labels, accuracy with a 95% interval
                                                                                   DIR/learn/estimate.json, README.md

LABELS is a filled-in `kornews choose` sheet or the labelling page's answers (`kornews label`): an article's last
answer counts, an empty label is not an answer. `kornews learn --resume DIR` continues after an interruption.
"""
import dataclasses
import json
from pathlib import Path

import numpy as np

from kornews.commands.train import train_run
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.inference.classifier import Classifier
from kornews.stats.metrics import wilson
from kornews.training import card, config
from kornews.training.ways import LearnConfig
from kornews.training.ways.taught import ESTIMATE, editor_split

# continuing a trained run: fewer epochs at a gentler rate than a fresh one (as `adapt` does), the held-out labels
# choosing the epoch; the first epoch was the best in every variant measured (bench/active.py), so one without
# improvement ends it
EPOCHS, LR_SHARE, PATIENCE = 3, 0.5, 1


def learn_run(source, labels, out, *, repeats: int | None = None, held_out: float | None = None, epochs=None,
              lr=None, encoding=None, overrides=(), progress=True, log=print) -> dict:
    """Teach run `source` the labelled articles of `labels` into the new run directory `out`; returns the
    estimate (see `estimate`)."""
    source = rundir.require(source, rundir.CONFIG, f"{rundir.MODEL}/config.json")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise KornewsError(f"{out}: run directory exists and is not empty (choose another --out or --resume)")
    if str(labels) == "-":
        raise KornewsError("learn reads its labels again when resumed: give a file, not -")
    defaults = {f.name: f.default for f in dataclasses.fields(LearnConfig)}
    plan = LearnConfig(source=str(source.resolve()), labels=str(Path(labels).resolve()), encoding=encoding,
                       repeats=defaults["repeats"] if repeats is None else repeats,
                       held_out=defaults["held_out"] if held_out is None else held_out)
    cfg = config.read_run(source)
    # the source's head continues (head_init fits a new one); a hybrid's TF-IDF knew the source's articles only
    cfg = dataclasses.replace(cfg, learn=plan, head_init="random", fusion=None, test=None, patience=PATIENCE,
                              epochs=epochs or min(cfg.epochs, EPOCHS), lr=lr or cfg.lr * LR_SHARE)
    cfg = config.load(None, overrides, base=config.to_dict(cfg))  # every bound checked before anything is written
    train, held = editor_split(cfg)
    log(f"learn: {len(train) + len(held)} labelled articles of {labels}: {len(train)} to train on, {len(held)} "
        "held out")
    config.write_run(out / rundir.LEARN, cfg)  # the plan: config.yaml of the run to be, in learn/
    return _learn(out, progress, log)


def resume_learn(out, *, progress=True, log=print) -> dict:
    """Continue an interrupted `learn_run` into `out` from what it saved."""
    out = rundir.require(out, f"{rundir.LEARN}/{rundir.CONFIG}")
    if (out / ESTIMATE).is_file():
        raise KornewsError(f"{out}: learning already finished")
    log(f"resuming the learning in {out}")
    return _learn(out, progress, log)


def _learn(out: Path, progress: bool, log) -> dict:
    cfg = config.read_run(out / rundir.LEARN)
    if not (out / rundir.FINAL).is_file():
        train_run(cfg, out, resume=(out / rundir.CONFIG).is_file(), progress=progress, log=log)
    result = estimate(out, cfg)
    atomic_write_text(out / ESTIMATE, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    card.write(out)
    lo, hi = result["interval"]
    log(f"learn: on the {result['n']} held-out labels the taught run is right {result['accuracy']:.1%} "
        f"(95% interval {lo:.1%}–{hi:.1%}); its source {result['source_accuracy']:.1%}")
    return result


def estimate(run, cfg) -> dict:
    """Accuracy on the editor's held-out labels of the taught run and of its source, as a user gets them (saved
    weights, calibration); a topic the source did not know counts against it."""
    held = editor_split(cfg)[1]
    truth = held["label"].to_numpy()
    taught = Classifier.load(run).predict(held)
    before = Classifier.load(cfg.learn.source).predict(held)
    right = int(np.sum(np.asarray(taught) == truth))
    lo, hi = wilson(right, len(held))
    return {"n": len(held), "accuracy": right / len(held), "interval": [lo, hi],
            "source_accuracy": float(np.mean(np.asarray(before) == truth)), "labels": cfg.learn.labels,
            "trained_on": len(editor_split(cfg)[0])}
