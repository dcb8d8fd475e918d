"""The classifier: a Hugging Face encoder with a sequence-classification head, its mode 4/5 wrappers, its
save/load, and features → logits (batching and collation live here).

The saved `config.json` carries `id2label`/`label2id` and a `kornews` block (the run's `featurize.InputSpec`),
so a model directory alone says how to feed it: a mode 1–4 model loads with plain
`AutoModelForSequenceClassification`. Weights are saved in bf16 (half the size; predictions agree: see
docs/benchmarks.md) and loaded in the dtype the engine asks for.
"""
import contextlib
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification
from transformers.utils import logging as hf_logging

from kornews.core import runtime
from kornews.core.errors import KornewsError
from kornews.data.modes import cluster_tokens
from kornews.model import encode
from kornews.model.encode import Features
from kornews.model.featurize import InputSpec
from kornews.model.firsttoken import first_token_only


def build(backbone: str, id2label: dict, *, dropout=None, attention_dropout=None, spec=None, seed: int = 0,
          keep_head: bool = False):
    """A fresh classifier on top of `backbone` (a local dir or a Hub id); `keep_head`: a classifier's own head is
    kept, to continue training it (its labels must be `id2label`'s first ones; a row is added for each further
    label, its weights zero, so the rows it had start as they were)."""
    id2label = {int(i): str(name) for i, name in id2label.items()}
    if keep_head:
        own = {int(i): str(n) for i, n in getattr(AutoConfig.from_pretrained(backbone), "id2label", {}).items()}
        if any(id2label.get(i) != name for i, name in own.items()):
            raise KornewsError(f"{backbone}: its labels {sorted(own.values())} are not the training data's "
                               f"{sorted(id2label.values())}, so its head cannot be continued")
        if len(own) < len(id2label):
            model = build(backbone, own, dropout=dropout, attention_dropout=attention_dropout, spec=spec, seed=seed,
                          keep_head=True)
            return grow_head(model, id2label)
    try:
        with encode.hf_quiet():  # a classifier backbone's own label count is about to be replaced
            cfg = AutoConfig.from_pretrained(backbone, num_labels=len(id2label), id2label=id2label,
                                             label2id={v: k for k, v in id2label.items()})
    except OSError as e:
        raise KornewsError(f"backbone {backbone!r} cannot be loaded: {str(e).splitlines()[0]}") from None
    if dropout is not None:
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            if hasattr(cfg, key) or key == "classifier_dropout":
                setattr(cfg, key, dropout)
    if attention_dropout is not None and hasattr(cfg, "attention_probs_dropout_prob"):
        cfg.attention_probs_dropout_prob = attention_dropout
    cfg.kornews = spec.to_dict() if spec is not None else {}
    torch.manual_seed(seed)  # the head's init is part of the run's determinism
    hf_logging.disable_progress_bar()  # a "Loading weights" bar at each training's start is noise
    try:
        with encode.hf_quiet():  # its load report only says that the new head is new
            # fp32 whatever the saved dtype: a finished run's model/ (bf16) trains in fp32 like any backbone
            model = AutoModelForSequenceClassification.from_pretrained(backbone, config=cfg, dtype=torch.float32,
                                                                       ignore_mismatched_sizes=True)
    except OSError as e:
        raise KornewsError(f"backbone {backbone!r} cannot be loaded: {str(e).splitlines()[0]}") from None
    if not keep_head and any(a.endswith("ForSequenceClassification") for a in cfg.architectures or ()):
        # a classifier as backbone (a finished run, a Hub fine-tune): keep its encoder, never its head, whose
        # rows meant other labels even where the count matches
        _fresh_head(model, seed)
    return model


def grow_head(model, id2label: dict):
    """`model` with a head row for each label of `id2label` beyond its own: zero weights and the mean bias, so each
    new topic starts as no more and no less likely than an average one and the known rows are untouched."""
    n_old = model.config.num_labels
    path, old = [(path, m) for path, m in model.named_modules() if isinstance(m, torch.nn.Linear)
                 and m.out_features == n_old and not path.startswith(model.base_model_prefix + ".")][-1]
    parent, _, name = path.rpartition(".")
    owner = model.get_submodule(parent)
    new = torch.nn.Linear(old.in_features, len(id2label), bias=old.bias is not None, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:n_old] = old.weight
        if old.bias is not None:
            new.bias.fill_(float(old.bias.mean()))
            new.bias[:n_old] = old.bias
    setattr(owner, name, new)
    model.config.id2label = dict(id2label)
    model.config.label2id = {v: k for k, v in id2label.items()}
    model.config.num_labels = model.num_labels = len(id2label)
    return model


def student_layers(teacher: int, n: int) -> list[int]:
    """Which of a teacher's `teacher` layers initialise an `n`-layer student: evenly spaced, the top one always
    (12 → 4: 2, 5, 8, 11), so the student starts with the layer the teacher's head reads."""
    if not 1 <= n <= teacher:
        raise KornewsError(f"a student of a {teacher}-layer teacher has 1 to {teacher} layers, not {n}")
    return [round((i + 1) * teacher / n) - 1 for i in range(n)]


def shrink(model, keep: list[int]):
    """`model` with only the encoder layers `keep` (in place: embeddings, pooler and head stay), its config saying
    so, so the saved student loads with plain `AutoModelForSequenceClassification`."""
    layers = encoder_layers(model)
    if layers is None:
        raise KornewsError(f"{type(hf(model)).__name__}: unknown layer layout, cannot take a student from it")
    base = getattr(hf(model), hf(model).base_model_prefix)
    base.encoder.layer = torch.nn.ModuleList([layers[i] for i in keep])
    for i, layer in enumerate(base.encoder.layer):  # each layer's own index (attention caches key on it)
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = i
    hf(model).config.num_hidden_layers = len(keep)
    return model


def _fresh_head(model, seed: int) -> None:
    base = getattr(model, model.base_model_prefix)
    generator = torch.Generator().manual_seed(seed)
    std = getattr(model.config, "initializer_range", 0.02)
    with torch.no_grad():
        for child in model.children():
            if child is base:
                continue
            for module in child.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.normal_(0.0, std, generator=generator)
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, torch.nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()



CLUSTER_TABLE = "cluster_embeddings.safetensors"
# Training memory (measured on knews8, one epoch: peak RSS 2.80 -> 2.35 GB at the same speed): batch widths
# rounded up to a multiple of 32 come in few sizes, so freed buffers fit the next batch, and every few batches the
# heap's free pages go back to the OS.
TRAIN_PAD_MULTIPLE = 32
TRIM_EVERY = 5  # batches between heap trims (runtime.release_memory): ~1 ms each, against GBs of fragments


def add_cluster_tokens(model, tokenizer, k: int) -> list[int]:
    """Mode 4: special tokens [C0]..[Ck-1], their embedding rows set to the mean row plus a little noise
    (an "average word" that each cluster then moves away from). Returns their ids."""
    tokenizer.add_tokens(cluster_tokens(k), special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(cluster_tokens(k))
    if max(ids) >= model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(max(ids) + 1, mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn((len(ids), weight.shape[1]), generator=generator) * weight.std() * 0.1
        weight[ids] = weight.mean(0) + noise
    return ids


class ClusterTokens(torch.nn.Module):
    """Mode 4 while training: the cluster tokens' rows live in a small k x hidden parameter of their own, so a
    frozen 250k-row table gets neither a gradient nor optimizer state (a full-table gradient made steps 2-3x
    slower). `save_pretrained` writes the rows back, so the saved model is a plain Hugging Face classifier."""

    def __init__(self, inner, token_ids: list[int]):
        super().__init__()
        self.inner = inner
        self.register_buffer("token_ids", torch.as_tensor(token_ids), persistent=False)
        slot = torch.full((inner.get_input_embeddings().weight.shape[0],), -1)
        slot[self.token_ids] = torch.arange(len(token_ids))
        self.register_buffer("slot", slot, persistent=False)  # vocabulary id -> cluster row, -1 elsewhere
        self.rows = torch.nn.Parameter(inner.get_input_embeddings().weight.detach()[self.token_ids].clone())

    @property
    def config(self):
        return self.inner.config

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        embeds = self.inner.get_input_embeddings()(input_ids)
        slot = self.slot[input_ids]
        own = self.rows[slot.clamp(min=0)].to(embeds.dtype)
        embeds = torch.where((slot >= 0)[..., None], own, embeds)
        return self.inner(inputs_embeds=embeds, attention_mask=attention_mask, token_type_ids=token_type_ids)

    def write_back(self) -> None:
        with torch.no_grad():
            self.inner.get_input_embeddings().weight[self.token_ids] = self.rows.to(
                self.inner.get_input_embeddings().weight.dtype)


class ClusterEmbedding(torch.nn.Module):
    """Mode 5: a learned k x hidden table added to the encoder's input embeddings, at [CLS] or everywhere.

    Wraps any Hugging Face sequence classifier that accepts `inputs_embeds`."""

    def __init__(self, inner, k: int, position: str = "cls"):
        super().__init__()
        self.inner, self.position = inner, position
        self.table = torch.nn.Embedding(k, inner.config.hidden_size)
        # BERT's own initialiser scale: small against word embeddings, so training starts near the base model
        torch.nn.init.normal_(self.table.weight, std=getattr(inner.config, "initializer_range", 0.02),
                              generator=torch.Generator().manual_seed(0))

    @property
    def config(self):
        return self.inner.config

    def forward(self, input_ids, attention_mask, cluster_ids, token_type_ids=None):
        embeds = self.inner.get_input_embeddings()(input_ids)
        add = self.table(cluster_ids)[:, None, :]
        where = torch.zeros_like(attention_mask)
        if self.position == "cls":
            where[:, 0] = 1
        else:
            where = attention_mask
        embeds = embeds + add * where[..., None].to(embeds.dtype)
        return self.inner(inputs_embeds=embeds, attention_mask=attention_mask, token_type_ids=token_type_ids)



def hf(model):
    """The Hugging Face model inside DDP and the mode 4/5 wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "inner", model)


def max_positions(model) -> int:
    """Longest input the model takes (`model`: a model or its config)."""
    config = getattr(hf(model), "config", model)
    limit = int(getattr(config, "max_position_embeddings", 512))
    if config.model_type in ("roberta", "xlm-roberta", "camembert"):  # positions start after the padding id
        limit -= (config.pad_token_id or 0) + 1
    return limit


def wrap(model, spec, tokenizer):
    """The model a mode trains: mode 4 adds its cluster tokens to `tokenizer` and the model, mode 5 its table."""
    if spec.mode_row.cluster_token:
        return ClusterTokens(model, add_cluster_tokens(model, tokenizer, spec.clusters.k))
    if spec.mode_row.cluster_embedding:
        return ClusterEmbedding(model, spec.clusters.k, spec.clusters.position)
    return model


def save(model, directory, tokenizer=None, dtype=torch.bfloat16) -> None:
    """save_pretrained in `dtype` (the model in memory is untouched), plus mode 5's cluster table and the
    tokenizer, whose tokenizer.json is written without indentation (half the size, read the same)."""
    from safetensors.torch import save_file
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
        path = Path(directory) / "tokenizer.json"
        if path.is_file():
            path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False,
                                       separators=(",", ":")), encoding="utf-8")
    model = getattr(model, "module", model)
    if isinstance(model, ClusterTokens):
        model.write_back()  # the saved model is a plain classifier whose table holds the cluster rows
    inner = hf(model)
    state = {k: v.detach().to("cpu", dtype) if v.is_floating_point() else v.cpu()
             for k, v in inner.state_dict().items()}
    kept = inner.config.dtype
    try:
        inner.save_pretrained(directory, state_dict=state)
        inner.config.dtype = str(dtype).removeprefix("torch.")  # save_pretrained wrote the in-memory dtype
        inner.config.save_pretrained(directory)
    finally:
        inner.config.dtype = kept
    if isinstance(model, ClusterEmbedding):
        save_file({"weight": model.table.weight.detach().float().cpu().contiguous()},
                  str(Path(directory) / CLUSTER_TABLE))


def load(model_dir, dtype=torch.float32):
    """A saved classifier in eval mode, in `dtype`, wrapped as its mode needs at inference (mode 5's table;
    mode 4's cluster rows are already in the embedding table)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise KornewsError(f"{model_dir}: no model here (config.json missing)")
    hf_logging.disable_progress_bar()  # a "Loading weights" bar on every predict is noise
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype)
    except (OSError, ValueError) as e:
        raise KornewsError(f"{model_dir}: model cannot be loaded ({str(e).splitlines()[0]})") from None
    spec = InputSpec.from_dict(getattr(model.config, "kornews", None), max_positions(model))
    if spec.mode_row.cluster_embedding:
        from safetensors.torch import load_file
        try:
            table = load_file(str(model_dir / CLUSTER_TABLE))["weight"]
        except (OSError, KeyError) as e:
            raise KornewsError(f"{model_dir / CLUSTER_TABLE}: mode 5 cluster table missing or corrupt ({e})") from None
        model = ClusterEmbedding(model, table.shape[0], spec.clusters.position)
        model.table.weight.data.copy_(table)
        model.to(dtype)
    model.eval()
    return model


def encoder_layers(model):
    """The list of transformer blocks, for layer-wise lr decay (None when the layout is unknown)."""
    model = hf(model)
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


def device_of(model) -> str:
    """The device `model`'s weights are on ("cpu", "cuda:0"), where its batches must go."""
    return str(next(model.parameters()).device)


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def forward(model, batch: dict, prefix: int = 0):
    """Logits of a collated batch (moved to the model's device); `prefix` > 0 when the batch carries cached hidden
    states of that layer."""
    batch = to_device(batch, device_of(model))
    with first_token_only(hf(model)):  # the head reads the top layer's first row only
        if not prefix:
            return model(**batch).logits
        with layer_slice(getattr(model, "module", model), prefix):
            return model(**batch).logits


# --- features → logits ------------------------------------------------------------------------------

def batches(features: Features, batch_size: int, *, shuffle=False, seed=0, group_by_length=False, shard=(0, 1)):
    """Index batches. Unshuffled (inference), longest first, so each batch pads only to its own longest row
    (callers put results back by index). Shuffled, length grouping sorts within shuffled pools of 50 batches
    so padding stays small."""
    n = len(features)
    lengths = np.array([len(r) for r in features.input_ids], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    if shuffle:
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        if group_by_length:
            pool = batch_size * 50
            order = np.concatenate([p[np.argsort(-lengths[p], kind="stable")]
                                    for p in np.array_split(order, max(1, -(-n // pool)))])
    out = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if shuffle:
        out = [out[i] for i in np.random.default_rng(seed + 1).permutation(len(out))]
    rank, world = shard
    if world > 1:  # every rank gets the same number of batches, so DDP's all-reduce never waits forever
        if len(out) < world:
            raise KornewsError(f"{n} training inputs make {len(out)} batches, fewer than the {world} processes")
        out = out[: len(out) - len(out) % world][rank::world]
    return out


def collate(features: Features, idx, pad_id: int, labels=None, multiple: int = 1) -> dict:
    """Padded tensors of rows `idx`; `multiple` rounds the width up (training: see TRAIN_PAD_MULTIPLE)."""
    rows = [features.input_ids[i] for i in idx]
    width = -(-max(len(r) for r in rows) // multiple) * multiple
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, i in enumerate(idx):
        r = features.input_ids[i]
        ids[k, :len(r)] = torch.tensor(r)
        types[k, :len(r)] = torch.tensor(features.token_type_ids[i])
        mask[k, :len(r)] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if features.hidden is not None:  # cached lower-layer states replace the ids (see model.cache_prefix)
        hidden = torch.zeros((len(rows), width, features.hidden[idx[0]].shape[-1]))
        for k, i in enumerate(idx):
            hidden[k, :len(features.hidden[i])] = features.hidden[i].float()
        batch = {"inputs_embeds": hidden, "attention_mask": mask}
    if features.cluster is not None:
        batch["cluster_ids"] = torch.as_tensor(features.cluster[idx])
    if labels is not None:
        batch["labels"] = torch.as_tensor(np.asarray(labels)[features.doc[idx]], dtype=torch.long)
    return batch


@torch.no_grad()
def cache_prefix(model, features: Features, layers: int, pad_id: int, batch_size: int, progress: str = "") -> Features:
    """Features plus the (frozen) output of the bottom `layers` layers per window, stored in float16; `progress`: the
    label of a progress bar (none where empty).

    All windows share one buffer (each is a view of its rows): a separate tensor per window scattered the heap
    between the batch temporaries, and the process kept the fragments (hundreds of MiB on knews8)."""
    model.eval()
    lengths = np.array([len(r) for r in features.input_ids], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    buffer = torch.empty((int(lengths.sum()), hf(model).config.hidden_size), dtype=torch.float16)
    with layer_slice(model, 0, layers) as base:
        order = batches(features, batch_size)
        for n, idx in enumerate(tqdm(order, desc=progress, disable=not progress, leave=False), 1):
            batch = to_device(collate(features, idx, pad_id, multiple=TRAIN_PAD_MULTIPLE), device_of(model))
            out = base(**batch).last_hidden_state.to("cpu", torch.float16)
            for k, i in enumerate(idx):
                buffer[starts[i]:starts[i] + lengths[i]] = out[k, :lengths[i]]
            if n % TRIM_EVERY == 0:
                runtime.release_memory()
    hidden = [buffer[a:a + n] for a, n in zip(starts, lengths)]
    return dataclasses.replace(features, hidden=hidden, prefix=layers)


def doc_logits_with(fn, features: Features, pad_id: int, batch_size: int, progress=None) -> np.ndarray:
    """Logits per article, the mean over its windows (one window unless long_strategy is chunks); `fn` maps a
    collated batch to window logits. Rows go back to their articles by index, so input order is kept."""
    n_docs = int(features.doc.max()) + 1 if len(features.doc) else 0
    total = None
    for idx in batches(features, batch_size):
        out = np.asarray(fn(collate(features, idx, pad_id)), dtype=np.float64)
        total = np.zeros((n_docs, out.shape[1])) if total is None else total
        np.add.at(total, features.doc[idx], out)
        if progress is not None:
            progress(len(idx))
    if total is None:
        return np.zeros((0, 0), dtype=np.float32)
    counts = np.bincount(features.doc, minlength=n_docs)[:, None]
    return (total / np.maximum(counts, 1)).astype(np.float32)


@dataclasses.dataclass
class Targets:
    """What a teacher says of each training window, for a student to learn (`targets`)."""
    logits: np.ndarray          # windows × labels
    hidden: list | None = None  # per student layer: per window, the teacher layer's output (tokens × hidden, fp16)


@torch.no_grad()
def targets(model, features: Features, pad_id: int, batch_size: int, layers=()) -> Targets:
    """The teacher `model`'s logits per window, in the features' order, and the outputs of its encoder layers
    `layers` (each kept in float16 in one buffer per layer, as `cache_prefix` keeps its states)."""
    model.eval()
    logits = np.zeros((len(features), len(hf(model).config.id2label)), dtype=np.float32)
    lengths = np.array([len(r) for r in features.input_ids], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    buffers = [torch.empty((int(lengths.sum()), hf(model).config.hidden_size), dtype=torch.float16) for _ in layers]
    for n, idx in enumerate(batches(features, batch_size), 1):
        with first_token_only(hf(model)) if not layers else contextlib.nullcontext():
            out = model(**to_device(collate(features, idx, pad_id), device_of(model)),
                        output_hidden_states=bool(layers))
        logits[idx] = out.logits.float().cpu().numpy()
        for buffer, layer in zip(buffers, layers):
            states = out.hidden_states[layer + 1].cpu()  # [0] is the embeddings' output
            for k, i in enumerate(idx):
                buffer[starts[i]:starts[i] + lengths[i]] = states[k, :lengths[i]]
        if n % TRIM_EVERY == 0:
            runtime.release_memory()
    hidden = [[b[a:a + n] for a, n in zip(starts, lengths)] for b in buffers] if layers else None
    return Targets(logits, hidden)


@torch.no_grad()
def doc_logits(model, features: Features, pad_id: int, batch_size: int) -> np.ndarray:
    """Logits per article of a model in training (cached prefix features allowed)."""
    model.eval()
    return doc_logits_with(lambda batch: forward(model, batch, features.prefix).float().cpu().numpy(), features,
                           pad_id, batch_size)
