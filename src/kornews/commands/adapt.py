"""`kornews adapt RUN UNLABELED --out DIR`: a run adapted to unlabelled articles of another source, written as an
ordinary run directory whose config.yaml says how it was adapted and from what (`adapt:`).

    1. the source run's calibrated probabilities of the unlabelled articles      DIR/adapt/source-probs.npy
    2. prior: the target's topic mix by EM, every probability re-weighted for it  DIR/adaptation.json
    3. self-train: the probabilities spread over the target's neighbour graph     DIR/adapt/spread-probs.npy
       (me5-small sentence embeddings, an independent view), then per topic the surest articles as pseudo-labels
                                                                                  DIR/adapt/pseudo.csv
       training continues the source run on its labelled articles plus these, and the labelled validation split
       still chooses the epoch
    4. self-train+prior: then the prior of what the new run says of the target   DIR/adapt/run-probs.npy

A label column in UNLABELED is never read: the articles are read unlabelled. Each step's result is saved before
the next starts, so `kornews adapt --resume DIR` continues after an interruption (training as `train --resume`).
"""
import dataclasses
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.commands.train import train_run
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_dir, atomic_write_bytes, atomic_write_text, cached_array
from kornews.data import articles
from kornews.data.datasets import Columns
from kornews.inference.classifier import Classifier, locate
from kornews.model import embedding
from kornews.stats import transfer
from kornews.training import card, config
from kornews.training.ways import AdaptConfig

SUMMARY = "summary.json"
SOURCE_PROBS, SPREAD_PROBS, RUN_PROBS, PSEUDO = "source-probs.npy", "spread-probs.npy", "run-probs.npy", "pseudo.csv"
# continuing a trained run at the recipe's own rate (2e-4) for its 4 epochs, the first was the best by validation
# loss and that still rose 0.44 → 0.83 (docs/results/benchmarks-history.md, adapting: first tries); so fewer epochs, a gentler rate
EPOCHS, LR_SHARE = 2, 0.25
NEIGHBOUR_EMBEDDER = "me5-small-bf16"  # the backbone's pretrained sentence view, unaffected by the run's training
# what a prior-corrected copy takes from its source run (the model is unchanged, so an exported graph still fits)
COPIED = (rundir.MODEL, rundir.CLUSTERER, "hybrid", "onnx", "calibration.json", rundir.FINAL, rundir.METRICS,
          "metrics.csv", rundir.ENV)


def adapt_run(source, unlabeled, out, *, method="self-train", per_topic=1000, min_confidence=None, neighbours=30,
              epochs=None, lr=None, encoding=None, overrides=(), progress=True, log=print) -> dict:
    """Adapt run `source` to the articles of `unlabeled` into the new run directory `out`; returns the summary.
    `overrides`: `--key=value` changes of the continued training's recipe (for instance `--freeze_layers=4`)."""
    source = rundir.require(source, rundir.CONFIG, f"{rundir.MODEL}/config.json")
    out = rundir.require_new(out)
    if str(unlabeled) == "-":
        raise KornewsError("adapt reads its articles again when resumed: give a file or a dataset, not -")
    plan = AdaptConfig(source=str(source.resolve()), unlabeled=str(unlabeled), method=method, per_topic=per_topic,
                       min_confidence=min_confidence, neighbours=neighbours, encoding=encoding)
    cfg = config.read_run(source)
    # the adapted run continues its source's head (head_init fits a new one, which only a fresh run has)
    cfg = dataclasses.replace(cfg, adapt=plan, head_init="random", epochs=epochs or min(cfg.epochs, EPOCHS),
                              lr=lr or cfg.lr * LR_SHARE)
    # every bound of the plan and of the overrides, and the articles readable, before anything is written
    cfg = config.load(None, overrides, base=config.to_dict(cfg))
    spec = locate(source)[3]
    articles.read(unlabeled, mode=spec.mode, columns=spec.columns, labeled=False, encoding=encoding, quiet=True)
    config.write_run(out / rundir.ADAPT, cfg)  # the plan: config.yaml of the run to be, in adapt/
    return _adapt(out, progress, log)


def resume_adapt(out, *, progress=True, log=print) -> dict:
    """Continue an interrupted `adapt_run` into `out` from what it saved."""
    out = rundir.require(out, f"{rundir.ADAPT}/{rundir.CONFIG}")
    if (out / rundir.ADAPT / SUMMARY).is_file():
        raise KornewsError(f"{out}: adaptation already finished")
    log(f"resuming the adaptation in {out}")
    return _adapt(out, progress, log)


def _adapt(out: Path, progress: bool, log) -> dict:
    started = time.time()
    work = out / rundir.ADAPT
    cfg = config.read_run(work)
    plan = cfg.adapt
    teacher = Classifier.load(plan.source, prior=False)  # an adapted source is adapted from its own training prior
    target = teacher.read(plan.unlabeled, labeled=False, split="train", encoding=plan.encoding).frame
    where = f"{plan.unlabeled} ({len(target)} articles, unlabelled)"
    log(f"adapt: {len(target)} unlabelled articles from {plan.unlabeled}; method {plan.method}")
    probs = cached_array(work / SOURCE_PROBS, lambda: teacher.scores(target, progress=progress).probs)
    summary = {"method": plan.method, "source": plan.source, "unlabeled": plan.unlabeled, "articles": len(target)}
    shift = None
    if plan.method == "prior":
        shift = transfer.fit_shift(probs, training_prior(config.read_run(plan.source), teacher.labels, log),
                                     teacher.labels, where)
        log("adapt: target topic mix " + _mix(shift))
        _copy_run(Path(plan.source), out, cfg)
        shift.save(out)
    else:
        # picked on the run's own (or spread) probabilities, never EM-shifted ones: the EM mix can starve a topic
        # the run confuses (on YNAT train it put 사회 at 2% against 11% true, and shifted picks held no society)
        spread, threshold = probs, plan.min_confidence
        if plan.neighbours:
            spread = cached_array(work / SPREAD_PROBS, lambda: _spread(target, probs, plan.neighbours, progress, log))
            # spread probabilities are flatter (median top 0.47 against 0.85 on YNAT dev): the rank per topic picks,
            # and the calibrated threshold would starve whole topics (no politics or society at all, measured)
            threshold = 0.0 if threshold is None else threshold
        elif threshold is None:  # the source run's review threshold: what kept 95% accuracy on its validation split
            threshold = teacher.calibration.min_confidence if teacher.calibration else 0.0
        threshold = threshold or 0.0
        pseudo = _pseudo_file(work, target, spread, teacher, plan.per_topic, threshold, cfg.columns)
        summary.update(min_confidence=threshold, pseudo=pseudo)
        log(f"adapt: {sum(pseudo.values())} pseudo-labelled articles (per topic at most {plan.per_topic}, top "
            f"probability ≥ {threshold:.4f}): " + ", ".join(f"{k} {v}" for k, v in pseudo.items()))
        cfg = dataclasses.replace(cfg, adapt=dataclasses.replace(plan, min_confidence=threshold,
                                                                 pseudo=str((work / PSEUDO).resolve())))
        del teacher
        if not (out / rundir.FINAL).is_file():
            resume = (out / rundir.CONFIG).is_file()
            train_run(cfg, out, resume=resume, progress=progress, log=log)
        if plan.method == "self-train+prior":
            student = Classifier.load(out, prior=False)
            run_probs = cached_array(work / RUN_PROBS, lambda: student.scores(target, progress=progress).probs)
            shift = transfer.fit_shift(run_probs, training_prior(cfg, student.labels, log), student.labels, where)
            log("adapt: the adapted run's target topic mix " + _mix(shift))
            shift.save(out)
    if shift is not None:
        summary["target_prior"] = dict(zip(shift.labels, shift.target))
    card.write(out)
    summary["seconds"] = round(time.time() - started, 1)
    rundir.write_json(work / SUMMARY, summary)
    log(f"adapt: {out} ready ({summary['seconds']:.0f} s)")
    return summary


def training_prior(cfg, labels: list[str], log=print) -> np.ndarray:
    """Topic shares of what a run was trained on: its labelled source (the validation split is stratified, so the
    shares are the training part's), plus its pseudo-labelled articles where it was self-trained."""
    try:
        seen = list(articles.read(cfg.train, mode=cfg.mode, columns=cfg.columns, encoding=cfg.encoding,
                                  quiet=True).frame["label"])
        if cfg.adapt is not None and cfg.adapt.pseudo:
            seen += list(articles.read(cfg.adapt.pseudo, mode=cfg.mode, columns=cfg.columns, quiet=True)
                         .frame["label"])
    except KornewsError as e:  # a run received without its data: the usual case of balanced training data
        log(f"adapt: the training data cannot be read ({e}); assuming every topic had the same share")
        return np.full(len(labels), 1 / len(labels))
    counts = Counter(seen)
    return np.array([counts.get(label, 0) for label in labels], dtype=np.float64) / len(seen)


def _spread(target, probs: np.ndarray, k: int, progress: bool, log) -> np.ndarray:
    """The run's probabilities spread over the target's neighbour graph (transfer.spread)."""
    k = min(k, len(target) - 1)
    if k < 1:
        return probs
    vectors = embedding.embed(embedding.article_text(target), NEIGHBOUR_EMBEDDER, progress=progress)
    spread = transfer.spread(probs, transfer.neighbours(vectors, k))
    log(f"adapt: spread over {k} neighbours ({NEIGHBOUR_EMBEDDER}); top topic changed for "
        f"{(spread.argmax(1) != probs.argmax(1)).mean():.1%} of the articles")
    return spread


def _mix(shift: transfer.PriorShift) -> str:
    return ", ".join(f"{label} {s:.3f}→{t:.3f}" for label, s, t in zip(shift.labels, shift.source, shift.target))


def _pseudo_file(work: Path, target, probs: np.ndarray, teacher, per_topic: int, threshold: float,
                 columns: Columns | None) -> dict:
    """Write the pseudo-labelled articles (in the run's column names, so training reads them as it reads its data);
    returns the count per topic."""
    picked = transfer.pseudo_labels(probs, per_topic, threshold)
    if len(picked) == 0:
        raise KornewsError(f"no unlabelled article reaches a top probability of {threshold:.4f}: lower "
                           "--min-confidence, or adapt with --method prior")
    names = columns or Columns()
    labels = [teacher.labels[i] for i in probs[picked].argmax(1)]
    frame = target.iloc[picked]
    table = {names.id: frame["id"].to_numpy(), names.title: frame["title"].to_numpy(),
             names.body: frame["body"].to_numpy(), names.label: labels}
    atomic_write_text(work / PSEUDO, pd.DataFrame(table).to_csv(index=False))
    counts = Counter(labels)
    return {label: counts.get(label, 0) for label in teacher.labels}


def _copy_run(source: Path, out: Path, cfg) -> None:
    """The source run's model and what describes it, into `out`, with the adapted config."""
    for name in COPIED:
        path = source / name
        if path.is_dir():
            with atomic_dir(out / name) as tmp:
                shutil.copytree(path, tmp, dirs_exist_ok=True)
        elif path.is_file():
            atomic_write_bytes(out / name, path.read_bytes())
    config.write_run(out, cfg)
