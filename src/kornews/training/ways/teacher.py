"""`distill:` — a student run (`kornews distill`) learns from a teacher run: it starts as a part of the teacher (fewer
layers, or all of them reading fewer tokens), and its loss is the divergence from the teacher's softened logits plus
a share of cross-entropy on the labels (Hinton et al.); unlabelled articles and snippets of the bodies add rows only
the teacher labels (label -1)."""
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from kornews.core import files, rundir, runtime
from kornews.data import articles
from kornews.data.modes import mode as mode_row
from kornews.model import modeling
from kornews.model.featurize import Featurizer, InputSpec
from kornews.training.ways.base import TrainingSet, Way


@dataclass
class DistillConfig:
    """How a student run is distilled from a teacher run (`kornews distill`): fewer layers, initialised from the
    teacher's, trained on its softened probabilities (and the labels where known)."""
    teacher: str                     # the teacher run directory
    layers: int = 2                  # the student's encoder layers, taken evenly from the teacher's (top one kept)
    unlabeled: str | None = None     # more articles the teacher labels softly (a label column there is never read)
    alpha: float = 0.9               # weight of the teacher's probabilities in the loss; 1 - alpha on the labels
    temperature: float = 2.0         # both sides' logits are divided by it before they are compared
    hidden: float = 0.0              # weight of matching each student layer's output to its teacher layer's (MSE)
    encoding: str | None = None      # the unlabelled file's (None: detected)
    crops: int = 0                   # per training article, this many snippets of its body the teacher labels

    def problems(self, cfg) -> list[tuple[bool, str]]:
        return [
            (self.layers >= 1, f"distill.layers must be at least 1, got {self.layers}"),
            (0 <= self.alpha <= 1, f"distill.alpha must be in [0, 1], got {self.alpha}"),
            (self.temperature > 0, f"distill.temperature must be positive, got {self.temperature}"),
            (not mode_row(cfg.mode).clusters,
             f"distillation takes modes 1-3, not mode {cfg.mode} (the teacher's clusters are its own)"),
            (cfg.adapt is None, "a run is either adapted or distilled, not both"),
            (self.hidden >= 0, f"distill.hidden must be >= 0, got {self.hidden}"),
            (0 <= self.crops <= 16, f"distill.crops must be 0 to 16, got {self.crops}"),
            (cfg.freeze_layers < self.layers,
             f"freeze_layers must be below the student's {self.layers} layers, got {cfg.freeze_layers}"),
            (not self.hidden or cfg.freeze_layers == 0,
             f"distill.hidden trains every layer to match its teacher's: freeze_layers must be 0, got "
             f"{cfg.freeze_layers}"),
        ]


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def body_crops(df, per_article: int, seed: int) -> pd.DataFrame:
    """`per_article` snippets of each article's body (one or two consecutive sentences, drawn by `seed`), each a
    text alone and unlabelled: a student hears its teacher on short texts as well as on whole articles."""
    rng, rows = np.random.default_rng(seed), []
    for body in df["body"]:
        sentences = [s for s in SENTENCE_END.split(body) if len(s) >= 10]
        for _ in range(per_article if sentences else 0):
            start = int(rng.integers(len(sentences)))
            rows.append(" ".join(sentences[start:start + int(rng.integers(1, 3))]))
    return pd.DataFrame({"id": "", "title": rows, "body": "", "label": "", "row": 0, "truncated": False},
                        index=range(len(rows)))


def teacher_targets(cfg, frame, features, featurizer: Featurizer) -> modeling.Targets:
    """What the teacher run says of each training window: the student's targets (its raw logits, before the
    teacher's temperature, which distillation's own temperature replaces; with `distill.hidden`, the outputs of
    the layers the student's layers were taken from). A student that reads fewer tokens than its teacher learns
    what the teacher says of the whole article (`frame`, read as the teacher reads it)."""
    teacher = modeling.load(Path(cfg.distill.teacher) / rundir.MODEL,
                            torch.bfloat16 if runtime.use_bf16(cfg.precision) else torch.float32)
    layers = modeling.student_layers(len(modeling.encoder_layers(teacher)), cfg.distill.layers)
    own = InputSpec.from_dict(getattr(modeling.hf(teacher).config, "kornews", None), modeling.max_positions(teacher))
    own = dataclasses.replace(featurizer.spec, max_len=own.max_len, long_strategy=own.long_strategy)
    if own == featurizer.spec or cfg.distill.hidden:  # layer outputs are matched token by token: the same input
        return modeling.targets(teacher, features, featurizer.pad_id, cfg.eval_batch_size,
                                layers if cfg.distill.hidden else ())
    theirs = Featurizer(own, featurizer.tokenizer)(frame, cache_dir=files.home() / "tokens")
    per_window = modeling.targets(teacher, theirs, featurizer.pad_id, cfg.eval_batch_size).logits
    per_article = np.zeros((int(theirs.doc.max()) + 1, per_window.shape[1]), dtype=np.float64)
    np.add.at(per_article, theirs.doc, per_window)
    per_article /= np.bincount(theirs.doc, minlength=len(per_article))[:, None]
    return modeling.Targets(per_article[features.doc].astype(np.float32))


def hidden_loss(states, teacher: list, idx, mask) -> torch.Tensor:
    """Mean squared distance between the student's layer outputs `states` and the teacher's (rows `idx` of each
    of `teacher`'s layers), over real tokens, averaged over layers."""
    keep = mask[..., None].float()
    total = 0.0
    for student, layer in zip(states, teacher):
        target = torch.zeros_like(student, dtype=torch.float32)
        for k, i in enumerate(idx):
            target[k, :len(layer[i])] = layer[i].float()
        total = total + ((student.float() - target) ** 2 * keep).sum() / (keep.sum() * student.shape[-1])
    return total / len(teacher)


def distillation_loss(logits, labels, teacher, alpha: float, temperature: float) -> torch.Tensor:
    """KL divergence of the temperature-softened distributions, scaled by T², weighted alpha, plus 1 - alpha of the
    cross-entropy on the labelled rows (label -1: the teacher's word alone)."""
    t = temperature
    soft = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                    reduction="batchmean") * t * t
    known = labels >= 0
    hard = F.cross_entropy(logits[known], labels[known]) if known.any() else logits.sum() * 0.0
    return alpha * soft + (1 - alpha) * hard


class Teacher(Way):
    block = "distill"
    targets: modeling.Targets | None = None

    def parent(self) -> str | None:
        return self.plan.teacher

    def articles(self, own: TrainingSet, labels) -> TrainingSet:
        cfg, plan = self.cfg, self.plan
        out = own
        if plan.unlabeled:  # labelled by the teacher alone: label -1
            extra = articles.read(plan.unlabeled, mode=cfg.mode, columns=cfg.columns, labeled=False,
                                  encoding=plan.encoding, quiet=True).frame
            out = out.plus(extra.assign(label=""), np.full(len(extra), -1))
        if plan.crops:  # snippets of the labelled articles' bodies, teacher-labelled
            extra = body_crops(out.frame[out.y >= 0], plan.crops, cfg.seed)
            out = out.plus(extra, np.full(len(extra), -1))
        return out

    def shape(self, model):
        """The student: evenly spaced layers of the teacher, the top one kept."""
        return modeling.shrink(model, modeling.student_layers(len(modeling.encoder_layers(model)), self.plan.layers))

    def attach(self, train, frame, featurizer) -> None:
        self.targets = teacher_targets(self.cfg, frame, train, featurizer)

    def loss(self, model, batch, labels, idx, prefix):
        hidden = self.targets.hidden is not None
        if hidden:  # a student matching the teacher's layers (no cached prefix: every layer of it trains)
            out = model(**batch, output_hidden_states=True)
            logits, states = out.logits.float(), out.hidden_states[1:]
        else:
            logits = modeling.forward(model, batch, prefix).float()
        teacher = torch.from_numpy(self.targets.logits[idx]).to(labels.device)
        loss = distillation_loss(logits, labels, teacher, self.plan.alpha, self.plan.temperature)
        if hidden:
            loss = loss + self.plan.hidden * hidden_loss(states, self.targets.hidden, idx, batch["attention_mask"])
        return loss, logits

    def section(self, run) -> list[str]:
        plan, cfg = self.plan, self.cfg
        extra = f" plus the unlabelled articles `{plan.unlabeled}`" if plan.unlabeled else ""
        return ["", "## Distillation", "",
                f"A {plan.layers}-layer student, reading {cfg.max_len} tokens of each article, of the run "
                f"`{plan.teacher}`, whose layers it starts from (evenly spaced, the top one kept). It was trained on "
                f"that run's training part{extra}: {plan.alpha:g} of the loss is "
                f"the divergence from the teacher's probabilities at temperature {plan.temperature:g}, "
                f"{1 - plan.alpha:g} the cross-entropy on the labels"
                + (f", plus {plan.hidden:g} × the squared distance of each layer's output from its teacher layer's"
                   if plan.hidden else "")
                + ". Its own validation split chose the epoch and fitted its temperature."]
