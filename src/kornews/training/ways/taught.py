"""`learn:` — a run taught an editor's own labelled articles (`kornews learn`) continues its source run, head
included, on its own labelled training split plus the editor's labels.

The random checks `choose` drew among the editor's labels (else a stratified share) are held out: those, not the
source's validation split, choose the epoch and estimate accuracy on the editor's news, and are never trained on;
they and the source's validation split together fit the calibration. A topic the source run did not know gets a new
head row; the rows it knew start as they were.
"""
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.folds import check_val_fraction, stratified_split
from kornews.data.labels import LabelMap
from kornews.training.ways.base import TrainingSet, Way

ESTIMATE = "learn/estimate.json"  # `kornews learn` writes it when training ends: what the model card reports
MIN_CHECKS = 10  # random checks enough to choose an epoch on; fewer, and a stratified share is held out instead


@dataclass
class LearnConfig:
    """What a run was taught and from where (`kornews learn`)."""
    source: str                      # the run continued, head included
    labels: str                      # the editor's answers: a filled-in `choose` sheet or the labelling page's file
    encoding: str | None = None
    # the editor's training labels this many times an epoch beside the run's own articles (bench/active.py)
    repeats: int = 4
    # without `choose`'s random checks (a `pick` column): the share of the editor's labels kept out of training to
    # choose the epoch, calibrate and estimate (stratified); with them, the checks are held out instead
    held_out: float = 0.25
    # the editor's unlabelled pool: the surest of each topic (`per_topic`), by `labeller`'s probabilities spread over
    # the pool's neighbours, are trained on once an epoch beside the labels (learn/pseudo.csv, `pseudo`)
    unlabeled: str | None = None
    labeller: str | None = None      # the run whose probabilities pseudo-label the pool (None: `source`)
    per_topic: int = 1000
    pseudo: str | None = None

    def problems(self, cfg) -> list[tuple[bool, str]]:
        ok_share = isinstance(self.held_out, float) and 0 < self.held_out < 1
        return [
            (cfg.adapt is None and cfg.distill is None and cfg.also is None,
             "learn: teaches an ordinary run, not one that is adapted, distilled or trained with also:"),
            (self.repeats >= 1, f"learn.repeats must be at least 1, got {self.repeats}"),
            (self.per_topic >= 1, f"learn.per_topic must be at least 1, got {self.per_topic}"),
            (ok_share, f"learn.held_out must be in (0, 1), got {self.held_out!r}"),
        ]


def editor_split(cfg) -> tuple:
    """(training, held-out) frames of the editor's labelled articles: the one place they are split. The articles
    `choose` drew at random (pick "check") are held out where there are at least `MIN_CHECKS`: the chosen ones are
    the run's hardest, and an estimate on them alone would say far less than the run is right on the news as a whole
    (0.55 against 0.72, bench/active.py); else a stratified share."""
    plan = cfg.learn
    df = articles.read(plan.labels, mode=cfg.mode, labeled=True, encoding=plan.encoding, quiet=True,
                       skip_unlabeled=True, keep=("pick",)).frame
    check_val_fraction(plan.held_out)
    checks = (df["pick"] == "check").to_numpy()
    if checks.sum() >= MIN_CHECKS and not checks.all():
        return df[~checks].reset_index(drop=True), df[checks].reset_index(drop=True)
    train, held = stratified_split(df, plan.held_out, cfg.seed)
    if held.empty:
        raise KornewsError(f"{plan.labels}: {len(df)} labelled article(s) leave none to hold out for choosing the "
                           "epoch and estimating accuracy; label more (at least two of a topic)")
    return train, held


def new_topics(known: list[str], labels) -> list[str]:
    """The editor's topics the run does not know, in a fixed order (sorted), to append to its labels."""
    return sorted(set(map(str, labels)) - set(known))


class Taught(Way):
    block = "learn"

    @cached_property
    def split(self):
        return editor_split(self.cfg)

    def parent(self) -> str | None:
        return self.plan.source

    def topics(self, labels: LabelMap) -> LabelMap:
        train, held = self.split
        return LabelMap(labels.labels + new_topics(labels.labels, list(train["label"]) + list(held["label"])))

    def articles(self, own: TrainingSet, labels) -> TrainingSet:
        train = self.split[0]
        y = np.asarray(labels.encode(train["label"], source=self.plan.labels, rows=train["row"]))
        out = own
        for _ in range(self.plan.repeats):
            out = out.plus(train, y)
        if self.plan.pseudo:
            extra = articles.read(self.plan.pseudo, mode=self.cfg.mode, quiet=True, split="train").frame
            out = out.plus(extra, labels.encode(extra["label"], source=self.plan.pseudo, rows=extra["row"]))
        return out

    def validation(self, own_validation):
        return self.split[1]

    def calibration(self, own_validation):
        """The held-out labels and the run's own validation split together: a few dozen random checks, all right by
        chance (20 of 20 in bench/active.py), fitted a temperature of 0.05 alone and a calibration error of 0.26 on
        YNAT dev; the run's own articles, never trained on either, keep the fit from collapsing."""
        return pd.concat([self.split[1], own_validation], ignore_index=True)

    def data_note(self) -> str:
        train, held = self.split
        how = ("the random checks `choose` drew" if (held["pick"] == "check").all() else
               "a stratified share")
        return (f" It continues the run `{self.plan.source}` taught {len(train) + len(held)} labelled articles of "
                f"`{self.plan.labels}`: {len(train)} trained on ({self.plan.repeats} times an epoch), {len(held)} held "
                f"out ({how}), which, not the split above, chose the epoch and fitted the calibration."
                + (f" Beside them, at most {self.plan.per_topic} pseudo-labelled articles per topic of "
                   f"`{self.plan.unlabeled}` (`learn/pseudo.csv`)." if self.plan.pseudo else ""))

    def section(self, run) -> list[str]:
        lines = ["", "## Taught an editor's labels", "",
                 f"Continued from the run `{self.plan.source}` on the labelled articles of `{self.plan.labels}`."]
        path = Path(run) / ESTIMATE
        if path.is_file():
            e = json.loads(path.read_text(encoding="utf-8"))
            lo, hi = e["interval"]
            lines.append(f"Estimated accuracy on the editor's news: **{e['accuracy']:.1%}** (95% Wilson interval "
                         f"{lo:.1%}–{hi:.1%}) on the {e['n']} held-out labels, against {e['source_accuracy']:.1%} "
                         f"for the source run; {e['trained_on']} labels were trained on. The same held-out labels "
                         "chose the epoch, so the estimate leans a little optimistic.")
        return lines
