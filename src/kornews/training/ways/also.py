"""`also:` — another labelled source beside the run's own, its labels mapped to the run's.

Its articles join the training split only (validation, which chooses the epoch and fits the calibration, stays the
run's own). A mapped "a|b" lets either topic count: the loss takes the two topics' summed probability (YNAT's
생활문화 is knews8's culture or entertain).
"""
from dataclasses import dataclass

import numpy as np
import torch

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.model import modeling
from kornews.training.ways.base import TrainingSet, Way


@dataclass
class AlsoConfig:
    """Another labelled source trained on with `train`: added after the split, so validation (epochs, calibration)
    stays `train`'s articles. Its labels map to the run's; "a|b" lets either count (the loss takes their summed
    probability: YNAT's 생활문화 is knews8's culture or entertain)."""
    data: str
    labels: dict                     # its label -> the run's label, or "label|label"
    encoding: str | None = None
    # the run's own training articles this many times an epoch (beside YNAT's 44,931 headlines knews8's are 2.5%)
    repeats: int = 1

    def problems(self, cfg) -> list[tuple[bool, str]]:
        return [
            (cfg.adapt is None and cfg.distill is None,
             "also: adds labelled articles to an ordinary run, not to an adapted or distilled one"),
            (bool(self.labels) and all(isinstance(v, str) and v.strip("|") for v in self.labels.values()),
             "also.labels must map each of its labels to a label of the run, or to \"a|b\""),
            (self.repeats >= 1, f"also.repeats must be at least 1, got {self.repeats}"),
        ]


def mapped_rows(cfg, labels) -> tuple[TrainingSet, torch.Tensor | None]:
    """The `also:` source's articles with their labels mapped to the run's, and the label sets: a mapped "a|b" is id
    n + k, where row k of the sets (n columns) marks a and b (None where no label maps to a set)."""
    also = cfg.also
    df = articles.read(also.data, mode=cfg.mode, columns=cfg.columns, split="train", encoding=also.encoding).frame
    unmapped = sorted(set(df["label"]) - set(map(str, also.labels)))
    if unmapped:
        raise KornewsError(f"config: also.labels has no entry for {also.data}'s label(s) {', '.join(unmapped)}")
    targets = {str(k): tuple(str(v).split("|")) for k, v in also.labels.items()}
    foreign = sorted({t for names in targets.values() for t in names} - set(labels.labels))
    if foreign:
        raise KornewsError(f"config: also.labels maps to {', '.join(foreign)}, which the training data's labels "
                           f"({', '.join(labels.labels)}) lack")
    sets = sorted({names for names in targets.values() if len(names) > 1})
    ids = {key: labels.label2id[names[0]] if len(names) == 1 else len(labels) + sets.index(names)
           for key, names in targets.items()}
    mask = torch.zeros((len(sets), len(labels)), dtype=torch.bool)
    for k, names in enumerate(sets):
        mask[k, [labels.label2id[n] for n in names]] = True
    return TrainingSet(df, np.array([ids[label] for label in df["label"]])), mask if sets else None


def label_set_loss(logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Minus the log of each row's summed probability over the topics `keep` allows (one topic: cross-entropy)."""
    return (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~keep, float("-inf")), 1)).mean()


class Also(Way):
    block = "also"
    sets: torch.Tensor | None = None

    def articles(self, own: TrainingSet, labels) -> TrainingSet:
        extra, self.sets = mapped_rows(self.cfg, labels)
        repeated = TrainingSet(own.frame, own.y)
        for _ in range(self.plan.repeats - 1):
            repeated = repeated.plus(own.frame, own.y)
        return repeated.plus(extra.frame, extra.y)

    def to(self, device) -> None:
        if self.sets is not None:
            self.sets = self.sets.to(device)

    def allowed(self, labels: torch.Tensor, n: int) -> torch.Tensor:
        """A set's members for ids n + k; a row's own label otherwise."""
        eye = torch.eye(n, dtype=torch.bool, device=labels.device)
        table = eye if self.sets is None else torch.cat([eye, self.sets])
        return torch.where((labels >= 0)[:, None], table[labels.clamp(min=0)], False)

    def loss(self, model, batch, labels, idx, prefix):
        """Cross-entropy where a label set's row loses minus the log of its members' summed probability."""
        if self.sets is None:
            return super().loss(model, batch, labels, idx, prefix)
        logits = modeling.forward(model, batch, prefix).float()
        return label_set_loss(logits, self.allowed(labels, logits.shape[1])), logits

    def data_note(self) -> str:
        mapped = ", ".join(f"{k} → {v.replace('|', ' or ')}" for k, v in self.plan.labels.items())
        return (f" It was also trained on `{self.plan.data}` (labelled; never in validation), its labels mapped: "
                f"{mapped}; where two topics are named, either counts (the loss takes their summed probability)."
                + (f" Its own training articles were seen {self.plan.repeats} times an epoch."
                   if self.plan.repeats > 1 else ""))
