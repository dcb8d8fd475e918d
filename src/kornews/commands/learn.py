"""`kornews learn RUN LABELS --out DIR`: the run taught an editor's labelled articles, written as an ordinary run
directory whose config.yaml says what it was taught and from where (`learn:`).

    1. the plan: the source run's recipe with the `learn:` block, checked before anything is trained   DIR/learn/
    2. training continues the source run (head included; a new topic gets a new row) on its own training split
       plus the editor's labels; the held-out share of those labels chooses the epoch and fits the calibration
    3. the estimate: the learned run and its source on the held-out labels, accuracy with a 95% interval
                                                                                   DIR/learn/estimate.json, README.md

With `--unlabeled POOL`, the surest articles of each topic in POOL (by `--labeller`'s probabilities, the source run's
by default: in rounds, the run that chose them; spread over the pool's neighbours as `adapt` does) are trained on
beside the labels (DIR/learn/pseudo.csv): on YNAT, 200 labels gave 0.72 alone and 0.77 with them in rounds
(bench/active.py).

LABELS is a filled-in `kornews choose` sheet or the labelling page's answers (`kornews label`): an article's last
answer counts, an empty label is not an answer. `kornews learn --resume DIR` continues after an interruption.
"""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.commands.choose import read_pool
from kornews.commands.train import train_run
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.inference.classifier import Classifier
from kornews.stats import transfer
from kornews.stats.metrics import wilson
from kornews.training import card, config
from kornews.training.ways import LearnConfig
from kornews.training.ways.taught import ESTIMATE, editor_split

PSEUDO = "pseudo.csv"
NEIGHBOURS = 30  # as `adapt`: each pool article's probabilities averaged with its 30 nearest (sentence embeddings)
# continuing a trained run: fewer epochs at a gentler rate than a fresh one (as `adapt` does), the held-out labels
# choosing the epoch; the first epoch was the best in every variant measured (bench/active.py), so one without
# improvement ends it
EPOCHS, LR_SHARE, PATIENCE = 3, 0.5, 1


def learn_run(source, labels, out, *, repeats: int | None = None, held_out: float | None = None, epochs=None,
              lr=None, encoding=None, unlabeled=None, labeller=None, per_topic: int = 1000, overrides=(),
              progress=True, log=print) -> dict:
    """Teach run `source` the labelled articles of `labels` into the new run directory `out`; returns the
    estimate (see `estimate`)."""
    source = rundir.require(source, rundir.CONFIG, f"{rundir.MODEL}/config.json")
    out = rundir.require_new(out)
    if str(labels) == "-":
        raise KornewsError("learn reads its labels again when resumed: give a file, not -")
    defaults = {f.name: f.default for f in dataclasses.fields(LearnConfig)}
    plan = LearnConfig(source=str(source.resolve()), labels=str(Path(labels).resolve()), encoding=encoding,
                       repeats=defaults["repeats"] if repeats is None else repeats,
                       held_out=defaults["held_out"] if held_out is None else held_out,
                       unlabeled=str(unlabeled) if unlabeled else None, per_topic=per_topic,
                       labeller=str(rundir.require(labeller, rundir.CONFIG).resolve()) if labeller else None,
                       pseudo=str((out / rundir.LEARN / PSEUDO).resolve()) if unlabeled else None)
    if str(unlabeled) == "-":
        raise KornewsError("learn reads its unlabelled pool again when resumed: give a file, not -")
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
    if cfg.learn.pseudo and not Path(cfg.learn.pseudo).is_file():
        pseudo_labels(cfg, progress, log)
    if not (out / rundir.FINAL).is_file():
        train_run(cfg, out, resume=(out / rundir.CONFIG).is_file(), progress=progress, log=log)
    result = estimate(out, cfg)
    atomic_write_text(out / ESTIMATE, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    card.write(out)
    lo, hi = result["interval"]
    log(f"learn: on the {result['n']} held-out labels the taught run is right {result['accuracy']:.1%} "
        f"(95% interval {lo:.1%}–{hi:.1%}); its source {result['source_accuracy']:.1%}")
    return result


def pseudo_labels(cfg, progress: bool, log) -> None:
    """The surest `per_topic` articles of each topic in the pool, by the labeller's calibrated probabilities spread
    over the pool's neighbour graph (as `adapt`), never one the editor labelled: written to `plan.pseudo`."""
    plan = cfg.learn
    labeller = plan.labeller or plan.source
    clf, pool, probs, vectors = read_pool(labeller, plan.unlabeled, progress=progress)
    spread = transfer.spread(probs, transfer.neighbours(vectors, min(NEIGHBOURS, len(pool) - 1)))
    free = np.flatnonzero(~pool["id"].isin(set(pd.concat(editor_split(cfg))["id"])).to_numpy())
    # an answered article teaches by its answer, never by a pseudo-label
    picked = free[transfer.pseudo_labels(spread[free], plan.per_topic, 0.0)]
    chosen = pool.iloc[picked]
    table = pd.DataFrame({"id": chosen["id"].to_numpy(), "title": chosen["title"].to_numpy(),
                          "body": chosen["body"].to_numpy(),
                          "label": [clf.labels[k] for k in spread[picked].argmax(1)]})
    atomic_write_text(Path(plan.pseudo), table.to_csv(index=False))
    log(f"learn: {len(table)} pseudo-labelled articles of {plan.unlabeled} (at most {plan.per_topic} a topic, by "
        f"{labeller})")


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
