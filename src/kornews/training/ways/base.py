"""The one interface between the loop and a way of training.

A way says what a run trains on beside its own labelled split (`articles`), its topics and the articles that
validate and calibrate it (`topics`, `validation`, `calibration`), where its model starts (`parent`, `shape`), what it
learns from each batch (`loss`), which predictions count as right (`allowed`), and what the model card says of it
(`card`). The loop calls these and knows nothing else of the way; plain training is this class.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from kornews.model import modeling


@dataclass
class TrainingSet:
    """The articles one epoch trains on and their label ids (-1: no label, the way's own targets teach it)."""
    frame: pd.DataFrame
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    def plus(self, frame: pd.DataFrame, y) -> "TrainingSet":
        return TrainingSet(pd.concat([self.frame, frame], ignore_index=True), np.concatenate([self.y, np.asarray(y)]))


class Way:
    """Plain training: the run's own training split, a new head on the backbone, cross-entropy on the labels."""
    block: str | None = None   # the TrainConfig key holding this way's config (None: plain training has none)

    def __init__(self, cfg):
        self.cfg = cfg
        self.plan = getattr(cfg, self.block) if self.block else None

    def parent(self) -> str | None:
        """The run whose model this one continues, head included (None: start from the backbone)."""
        return None

    def topics(self, labels):
        """The run's label map, from its own training labels (`labels`); a way may add topics after them."""
        return labels

    def validation(self, own_validation: pd.DataFrame) -> pd.DataFrame:
        """The articles that choose the epoch: the run's own validation split."""
        return own_validation

    def calibration(self, own_validation: pd.DataFrame) -> pd.DataFrame:
        """The articles that fit the calibration once training ends: those that chose the epoch."""
        return self.validation(own_validation)

    def articles(self, own: TrainingSet, labels) -> TrainingSet:
        """What training reads: the run's own training split (`own`, after validation was drawn from the rest), plus
        whatever the way adds; validation stays the run's own articles."""
        return own

    def shape(self, model):
        """The model as built from the parent or the backbone, shaped for this way (a student: fewer layers)."""
        return model

    def attach(self, train, frame: pd.DataFrame, featurizer) -> None:
        """Called once the training windows `train` (features of `frame`) exist: targets computed from them."""

    def to(self, device) -> None:
        """Move what the way keeps for its loss to the model's device."""

    def loss(self, model, batch: dict, labels: torch.Tensor, idx, prefix) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) of one batch, run under the loop's autocast; `idx`: the batch's rows of the training
        windows, `prefix`: the frozen layers' cached output (None where they run)."""
        logits = modeling.forward(model, batch, prefix).float()
        return F.cross_entropy(logits, labels), logits

    def allowed(self, labels: torch.Tensor, n: int) -> torch.Tensor:
        """(batch, n) bool: the topics that count as right for each row (none for a row without a label)."""
        eye = torch.eye(n, dtype=torch.bool, device=labels.device)
        return torch.where((labels >= 0)[:, None], eye[labels.clamp(min=0)], False)

    def data_note(self) -> str:
        """Words the model card adds to its account of the training data."""
        return ""

    def section(self, run) -> list[str]:
        """The model card's section on this way (its lines; none for plain training)."""
        return []
