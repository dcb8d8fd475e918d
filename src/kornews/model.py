"""The classifier: a Hugging Face encoder with a sequence-classification head, and its save/load.

The saved `config.json` carries `id2label`/`label2id` and a `kornews` block (mode, max_len, long-article
strategy, columns), so a model directory alone says how to feed it: a mode 1–3 model loads with plain
`AutoModelForSequenceClassification`.
"""
import contextlib
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from . import encode
from .errors import KornewsError


def build(backbone: str, id2label: dict, *, dropout=None, inference: dict | None = None):
    """A fresh classifier on top of `backbone` (a local dir or a Hub id)."""
    id2label = {int(i): str(name) for i, name in id2label.items()}
    try:
        cfg = AutoConfig.from_pretrained(backbone, num_labels=len(id2label), id2label=id2label,
                                         label2id={v: k for k, v in id2label.items()})
    except OSError as e:
        raise KornewsError(f"backbone {backbone!r} cannot be loaded: {str(e).splitlines()[0]}") from None
    if dropout is not None:
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            if hasattr(cfg, key) or key == "classifier_dropout":
                setattr(cfg, key, dropout)
    cfg.kornews = dict(inference or {})
    torch.manual_seed(0)  # the head's init is part of the run's determinism
    with encode.hf_quiet():  # its load report only says that the new head is new
        return AutoModelForSequenceClassification.from_pretrained(backbone, config=cfg)



def max_positions(model) -> int:
    return int(getattr(model.config, "max_position_embeddings", 512))


def load(model_dir):
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise KornewsError(f"{model_dir}: no model here (config.json missing)")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise KornewsError(f"{model_dir}: model cannot be loaded ({str(e).splitlines()[0]})") from None
    model.eval()
    return model


def encoder_layers(model):
    """The list of transformer blocks, for layer-wise lr decay (None when the layout is unknown)."""
    base = getattr(model, model.base_model_prefix, model)
    return getattr(getattr(base, "encoder", None), "layer", None)


class _Passthrough(torch.nn.Module):
    """Stands in for the embeddings when the inputs already are hidden states of a lower layer."""

    def forward(self, inputs_embeds=None, **kwargs):
        return inputs_embeds


@contextlib.contextmanager
def layer_slice(model, start: int, stop: int | None = None):
    """Run only encoder layers [start:stop]; from start > 0, `inputs_embeds` are the hidden states entering
    layer `start`. Masks, pooler and head are the model's own, so any BERT-like encoder works."""
    base = getattr(model, model.base_model_prefix)
    layers, embeddings = base.encoder.layer, base.embeddings
    base.encoder.layer = torch.nn.ModuleList(list(layers)[start:stop])
    if start > 0:
        base.embeddings = _Passthrough()
    try:
        yield base
    finally:
        base.encoder.layer, base.embeddings = layers, embeddings


def forward(model, batch: dict, prefix: int = 0):
    """Logits of a collated batch; `prefix` > 0 when the batch carries cached hidden states of that layer."""
    if not prefix:
        return model(**batch).logits
    with layer_slice(getattr(model, "module", model), prefix):
        return model(**batch).logits


@torch.no_grad()
def cache_prefix(model, features: dict, layers: int, pad_id: int, batch_size: int) -> dict:
    """Features plus the (frozen) output of the bottom `layers` layers per window, stored in float16."""
    model.eval()
    hidden = [None] * len(features["input_ids"])
    with layer_slice(model, 0, layers) as base:
        for idx in encode.batches(features, batch_size):
            out = base(**encode.collate(features, idx, pad_id)).last_hidden_state.to(torch.float16)
            for k, i in enumerate(idx):
                hidden[i] = out[k, :len(features["input_ids"][i])].clone()
    return {**features, "hidden": hidden, "prefix": layers}


@torch.no_grad()
def doc_logits(model, features: dict, pad_id: int, batch_size: int) -> np.ndarray:
    """Logits per article: the mean over its windows (one window unless long_strategy is chunks)."""
    model.eval()
    n_docs = int(features["doc"].max()) + 1 if len(features["doc"]) else 0
    total = np.zeros((n_docs, model.config.num_labels), dtype=np.float64)
    for idx in encode.batches(features, batch_size):
        batch = encode.collate(features, idx, pad_id)
        out = forward(model, batch, features.get("prefix", 0)).float().numpy()
        np.add.at(total, features["doc"][idx], out)
    counts = np.bincount(features["doc"], minlength=n_docs)[:, None]
    return (total / np.maximum(counts, 1)).astype(np.float32)
