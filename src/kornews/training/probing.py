"""A head that starts as a sensible classifier: LP-FT's linear probe (Kumar et al., 2022), the head's last layer
fitted on the frozen encoder's features before fine-tuning starts, or prototypes, each topic's row the direction of
its description in those features; so the first steps move the encoder towards the task instead of tearing its
features to make up for a random head.

    head_layer(model)                           the Linear that produces the logits (any Hugging Face head)
    head_inputs(model, features, ...)           what that layer reads, per window, from the model as it is
    fit_probe(x, y, x_val, y_val)               a multinomial logistic regression, its L2 strength chosen on
                                                the validation split's log loss -> Probe
    fit_prototypes(x_topics, x, x_val, y_val)   each topic's row from its description's features, the scale
                                                chosen on the validation split's log loss -> Probe
    set_head(model, probe)                      its weights copied into the head
"""
import dataclasses

import numpy as np
import torch

from kornews.core.errors import KornewsError
from kornews.model import modeling
from kornews.model.encode import Features

STRENGTHS = (0.01, 0.1, 1.0, 10.0)  # inverse L2 strengths tried; features are tanh-bounded, so one scale fits all
SCALES = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # prototype logits = scale x projection; the spread is unknown beforehand


@dataclasses.dataclass
class Probe:
    weight: np.ndarray   # labels × features
    bias: np.ndarray     # labels
    setting: float       # what validation chose: the probe's inverse L2 strength, the prototypes' scale
    val_loss: float      # its validation log loss (per window)
    val_acc: float


def head_layer(model) -> torch.nn.Linear:
    """The last Linear outside the encoder whose outputs are the labels (BERT's `classifier`, RoBERTa's
    `classifier.out_proj`, ...)."""
    inner = modeling.hf(model)
    base = getattr(inner, inner.base_model_prefix, None)
    n = len(inner.config.id2label)
    found = None
    for child in inner.children():
        if child is base:
            continue
        for module in child.modules():
            if isinstance(module, torch.nn.Linear) and module.out_features == n:
                found = module
    if found is None:
        raise KornewsError(f"{type(inner).__name__}: no linear layer with {n} outputs in its head, so no probe "
                           "can be fitted (use head_init: random)")
    return found


@torch.no_grad()
def head_inputs(model, features: Features, pad_id: int, batch_size: int) -> np.ndarray:
    """(windows, d) float32: the input of `head_layer` per window, in the features' order (dropout off)."""
    layer, seen = head_layer(model), {}
    hook = layer.register_forward_hook(lambda module, args, out: seen.__setitem__("x", args[0]))
    model.eval()
    out = None
    try:
        for idx in modeling.batches(features, batch_size):
            modeling.forward(model, modeling.collate(features, idx, pad_id), features.prefix)
            x = seen["x"].float().cpu().numpy()
            out = np.zeros((len(features), x.shape[1]), dtype=np.float32) if out is None else out
            out[idx] = x
    finally:
        hook.remove()
    return out if out is not None else np.zeros((0, layer.in_features), dtype=np.float32)


def fit_probe(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, n_labels: int,
              strengths=STRENGTHS) -> Probe:
    """Multinomial logistic regression on (x, y); of `strengths`, the one with the lowest validation log loss.
    Labels outside 0..n_labels-1 (label sets, unlabelled rows) are left out; a label training lacks gets a
    row of zeros and a bias far below the others."""
    from sklearn.linear_model import LogisticRegression
    keep = (y >= 0) & (y < n_labels)
    x, y = x[keep], y[keep]
    present = np.unique(y)
    if len(present) < 2:
        raise KornewsError(f"a linear probe needs at least two topics among the training articles, got {len(present)}")
    best = None
    for c in strengths:
        lr = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        weight, bias = np.zeros((n_labels, x.shape[1])), np.full(n_labels, -30.0)
        if len(lr.classes_) == 2:  # sklearn keeps one row for two classes: the second's logit against 0
            weight[lr.classes_[1]], bias[lr.classes_] = lr.coef_[0], (0.0, lr.intercept_[0])
        else:
            weight[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
        best = _better(best, weight, bias, c, x_val, y_val)
    return best


def _better(best: Probe | None, weight, bias, setting, x_val, y_val) -> Probe:
    """The head (weight, bias) scored on the validation windows, if its log loss beats `best`; else `best`."""
    from sklearn.metrics import log_loss
    logits = x_val @ weight.T + bias
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    loss = float(log_loss(y_val, proba, labels=list(range(len(weight)))))
    if best is not None and loss >= best.val_loss:
        return best
    return Probe(weight.astype(np.float32), bias.astype(np.float32), float(setting), loss,
                 float((logits.argmax(1) == y_val).mean()))


def fit_prototypes(x_topics: np.ndarray, x: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                   scales=SCALES) -> Probe:
    """A head with one row per topic (the rows of `x_topics`: the features of each topic's description): the
    direction of the description from the descriptions' mean, read from the training windows' mean `x`, so
    logit = scale · <direction, features − mean>; of `scales`, the one with the lowest validation log loss.

    Both means come off because a short description and a long article differ in ways no topic explains (and
    every text shares a large common component); what is left of a description is what sets it apart from the
    other topics'."""
    n_labels = len(x_topics)
    if n_labels < 2:
        raise KornewsError(f"a head of prototypes needs at least two topics, got {n_labels}")
    mean = x.astype(np.float64).mean(0)
    directions = x_topics.astype(np.float64) - x_topics.astype(np.float64).mean(0)
    directions /= np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-12)
    keep = (y_val >= 0) & (y_val < n_labels)
    x_val, y_val = x_val[keep].astype(np.float64), y_val[keep]
    best = None
    for scale in scales:
        best = _better(best, scale * directions, -scale * directions @ mean, scale, x_val, y_val)
    return best


@torch.no_grad()
def set_head(model, probe: Probe) -> None:
    layer = head_layer(model)
    layer.weight.copy_(torch.from_numpy(probe.weight).to(layer.weight.dtype))
    if layer.bias is not None:
        layer.bias.copy_(torch.from_numpy(probe.bias).to(layer.bias.dtype))
