"""`adapt:` — a run adapted to another source's unlabelled articles (`kornews adapt`) continues its source run, head
included, on its labelled training split plus the articles the source run pseudo-labelled."""
from dataclasses import dataclass
from pathlib import Path

from kornews.data import articles
from kornews.data.modes import mode as mode_row
from kornews.stats.transfer import METHODS, PriorShift
from kornews.training.ways.base import TrainingSet, Way


@dataclass
class AdaptConfig:
    """How a run was adapted to unlabelled articles (`kornews adapt`), and from what; training reads `source` (the
    run whose weights it continues, head included) and `pseudo` (its pseudo-labelled articles)."""
    source: str                      # the adapted run
    unlabeled: str                   # the unlabelled articles (a label column there is never read)
    method: str = "self-train"
    per_topic: int = 1000            # self-training: at most this many pseudo-labelled articles per topic
    # ... whose top probability reaches this (None: 0 after spreading, else the run's review threshold)
    min_confidence: float | None = None
    neighbours: int = 30             # label spreading over each article's k nearest (me5-small); 0: none
    pseudo: str | None = None        # the pseudo-labelled articles training adds to the labelled ones
    encoding: str | None = None      # the unlabelled file's (None: detected)

    def problems(self, cfg) -> list[tuple[bool, str]]:
        return [
            (self.method in METHODS, f"adapt.method must be one of {', '.join(METHODS)}, got {self.method!r}"),
            (self.per_topic >= 1, f"adapt.per_topic must be at least 1, got {self.per_topic}"),
            (self.neighbours >= 0, f"adapt.neighbours must be >= 0, got {self.neighbours}"),
            (self.min_confidence is None or 0 <= self.min_confidence < 1,
             f"adapt.min_confidence must be in [0, 1), got {self.min_confidence}"),
            (self.pseudo is None or not mode_row(cfg.mode).clusters,
             f"self-training continues modes 1-3, not mode {cfg.mode} (its clusters): adapt it with method prior"),
        ]


class Pseudo(Way):
    block = "adapt"

    def parent(self) -> str | None:
        return self.plan.source

    def articles(self, own: TrainingSet, labels) -> TrainingSet:
        if not self.plan.pseudo:
            return own
        cfg = self.cfg
        extra = articles.read(self.plan.pseudo, mode=cfg.mode, columns=cfg.columns, split="train",
                              encoding=cfg.encoding).frame
        return own.plus(extra, labels.encode(extra["label"]))

    def section(self, run) -> list[str]:
        plan = self.plan
        lines = ["", "## Adaptation", "",
                 f"Adapted from the run `{plan.source}` to the unlabelled articles `{plan.unlabeled}` by "
                 f"`{plan.method}`."]
        if plan.pseudo:
            spread = (f"spread over each article's {plan.neighbours} nearest neighbours (me5-small sentence "
                      "embeddings)" if plan.neighbours else "as the source run gave them")
            floor = f" and a top probability of at least {plan.min_confidence:.4f}" if plan.min_confidence else ""
            lines.append(f"Self-training continued that run on its labelled data plus at most {plan.per_topic} "
                         f"pseudo-labelled articles per topic, the surest by its probabilities {spread}{floor} "
                         "(`adapt/pseudo.csv`); its labelled validation split chose the epoch.")
        shift = PriorShift.load(Path(run))
        if shift is not None:
            mix = ", ".join(f"{label} {t:.1%}" for label, t in zip(shift.labels, shift.target))
            lines.append(f"Prior correction: probabilities are re-weighted from the training topic mix to the one "
                         f"EM estimated on {shift.fitted_on}: {mix}.")
        return lines

