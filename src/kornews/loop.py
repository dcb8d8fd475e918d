"""The fine-tuning loop: AdamW, warmup + decay, clipping, early stopping on validation loss, resumable.

Runs as one process, or as several under `torchrun` / `accelerate launch` (DDP, gloo on CPU): batches are
sharded by rank, gradients all-reduced, and only rank 0 writes the run directory.
"""
import contextlib
import dataclasses
import io
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.metrics import f1_score
from tqdm.auto import tqdm
from transformers import get_scheduler
from transformers.utils import logging as hf_logging

from . import articles, backbones, clusters, files, folds, modeling, probing, rundir, runtime, zeroshot
from .ema import Ema
from .encode import Features
from .featurize import Featurizer, InputSpec
from .files import atomic_dir, atomic_write_bytes
from .labels import LabelMap
from .errors import KornewsError


@dataclasses.dataclass
class Prepared:
    """Everything the loop needs, derived deterministically from the config."""
    model: torch.nn.Module
    tokenizer: object
    pad_id: int
    id2label: dict
    train: Features
    train_y: np.ndarray
    val: Features
    val_y: np.ndarray
    test: Features | None
    test_y: np.ndarray | None
    featurizer: Featurizer  # the same article → features path prediction uses
    clusterer: object = None        # modes 4 and 5
    teacher: modeling.Targets | None = None  # distillation: what the teacher says of each training window
    label_sets: torch.Tensor | None = None   # `also:` rows whose label is a set: label n + k is row k (bool)


def read_split(cfg, source: str, split: str):
    """The labelled articles of one of the config's sources, read as every verb reads them."""
    return articles.read(source, mode=cfg.mode, columns=cfg.columns, split=split, encoding=cfg.encoding).frame


def also_rows(cfg, labels: LabelMap) -> tuple[pd.DataFrame, np.ndarray, torch.Tensor | None]:
    """(articles, label ids, label sets) of the `also:` source, its labels mapped to the run's: a mapped "a|b" is
    id n + k, where row k of the sets (n columns) marks a and b."""
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
    return df, np.array([ids[label] for label in df["label"]]), mask if sets else None


def allowed(labels: torch.Tensor, n: int, sets: torch.Tensor | None) -> torch.Tensor:
    """(batch, n) bool: the labels each row may take (its own; a set's members for ids n + k; none for -1)."""
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    table = eye if sets is None else torch.cat([eye, sets])
    return torch.where((labels >= 0)[:, None], table[labels.clamp(min=0)], False)


def validation_split(cfg, df) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation) of a run's labelled articles: the one place a run's validation split is drawn."""
    return folds.stratified_split(df, cfg.val_fraction, cfg.seed if cfg.split_seed is None else cfg.split_seed)


def title_copies(df, share: float, seed: int):
    """`df` plus title-only copies of `share` of its titled articles (drawn by `seed`), for input that arrives as
    bare headlines. On headlines from another source it hurt (docs/benchmarks.md, recipe search): off by default."""
    titled = df[df["title"] != ""]
    n = round(share * len(titled))
    if n == 0:
        return df
    copies = titled.sample(n=n, random_state=seed) if n < len(titled) else titled
    return pd.concat([df, copies.assign(body="")], ignore_index=True)


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


def prepare(cfg, clusterer=None) -> Prepared:
    df = read_split(cfg, cfg.train, "train")
    labels = LabelMap.fit(df["label"])
    tr, va = validation_split(cfg, df)
    if va.empty:
        raise KornewsError(f"config: val_fraction={cfg.val_fraction} leaves no validation articles for early "
                           f"stopping ({len(df)} training articles); raise it or add data")
    test_df = read_split(cfg, cfg.test, "test") if cfg.test else None
    test_y = (np.asarray(labels.encode(test_df["label"], source=cfg.test, rows=test_df["row"]))
              if test_df is not None else None)
    spec = InputSpec.from_config(cfg)
    if spec.mode_row.clusters and clusterer is None:  # fitted on the training split only
        clusterer = clusters.Clusterer(cfg.clusters.k, cfg.clusters.embedder, cfg.seed)
        clusterer.fit(clusters.article_text(tr))
    tr = title_copies(tr, cfg.title_copies, cfg.seed)  # after the clusterer: it learns from whole articles
    if cfg.adapt is not None and cfg.adapt.pseudo:  # after the split: validation stays labelled articles only
        tr = pd.concat([tr, read_split(cfg, cfg.adapt.pseudo, "train")], ignore_index=True)
    train_y = np.asarray(labels.encode(tr["label"]))
    sets = None
    if cfg.also is not None:  # after the split: validation stays the main source's own articles
        extra, extra_y, sets = also_rows(cfg, labels)
        own = cfg.also.repeats
        tr = pd.concat([tr] * own + [extra], ignore_index=True)
        train_y = np.concatenate([np.tile(train_y, own), extra_y])
    if cfg.distill is not None and cfg.distill.unlabeled:  # labelled by the teacher alone: label -1
        extra = articles.read(cfg.distill.unlabeled, mode=cfg.mode, columns=cfg.columns, labeled=False,
                              encoding=cfg.distill.encoding, quiet=True).frame
        tr = pd.concat([tr, extra.assign(label="")], ignore_index=True)
        train_y = np.concatenate([train_y, np.full(len(extra), -1)])
    if cfg.distill is not None and cfg.distill.crops:  # snippets of the labelled articles' bodies, teacher-labelled
        extra = body_crops(tr[train_y >= 0], cfg.distill.crops, cfg.seed)
        tr = pd.concat([tr, extra], ignore_index=True)
        train_y = np.concatenate([train_y, np.full(len(extra), -1)])

    # an adapted run continues its source run, head included; a student starts as a part of its teacher; any
    # other run starts from the backbone
    parent = cfg.adapt.source if cfg.adapt is not None else cfg.distill.teacher if cfg.distill is not None else None
    path = str(Path(parent) / rundir.MODEL) if parent is not None else backbones.resolve(cfg.backbone)
    tok = backbones.load_tokenizer(path)
    model = modeling.build(path, labels.id2label, dropout=cfg.dropout, attention_dropout=cfg.attention_dropout,
                            spec=spec, seed=cfg.seed if cfg.init_seed is None else cfg.init_seed,
                            keep_head=parent is not None)
    if cfg.init_seed is not None:  # dropout and the rest draw from the run's own seed, not the head's
        torch.manual_seed(cfg.seed)
    if cfg.distill is not None:
        model = modeling.shrink(model, modeling.student_layers(len(modeling.encoder_layers(model)),
                                                               cfg.distill.layers))
    try:
        spec.check_positions(modeling.max_positions(model), cfg.backbone)
    except KornewsError as e:
        raise KornewsError(f"config: {e}") from None
    model = modeling.wrap(model, spec, tok)
    featurizer = Featurizer(spec, tok, clusterer)

    def feats(frame):  # val and test articles get their clusters like new articles
        return featurizer(featurizer.with_clusters(frame), cache_dir=files.home() / "tokens")

    train = feats(tr)
    return Prepared(model=model, tokenizer=tok, pad_id=featurizer.pad_id, id2label=labels.id2label,
                    featurizer=featurizer, clusterer=clusterer, train=train, train_y=train_y, val=feats(va),
                    val_y=np.asarray(labels.encode(va["label"])), test=feats(test_df) if test_df is not None else None,
                    test_y=test_y, teacher=teacher_targets(cfg, tr, train, featurizer) if cfg.distill else None,
                    label_sets=sets)


def teacher_targets(cfg, frame, features: Features, featurizer: Featurizer) -> modeling.Targets:
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


def objective(logits, labels, teacher=None, distill=None, sets=None):
    """The training loss: cross-entropy on the labels (a label set's row: minus the log of its members' summed
    probability), or with a teacher the distillation loss of Hinton et al. (KL divergence of the
    temperature-softened distributions, scaled by T², weighted alpha) plus 1 - alpha of the cross-entropy on the
    labelled rows (label -1: the teacher's word alone)."""
    if sets is not None:
        keep = allowed(labels, logits.shape[1], sets)
        return (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~keep, float("-inf")), 1)).mean()
    if teacher is None:
        return F.cross_entropy(logits, labels)
    t = distill.temperature
    soft = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                    reduction="batchmean") * t * t
    known = labels >= 0
    hard = F.cross_entropy(logits[known], labels[known]) if known.any() else logits.sum() * 0.0
    return distill.alpha * soft + (1 - distill.alpha) * hard


def freeze(model, cfg) -> None:
    """Freeze the embeddings and/or bottom layers of the Hugging Face model (a mode 4/5 wrapper's own
    cluster parameters stay trainable)."""
    model = modeling.hf(model)
    if cfg.freeze_embeddings or cfg.freeze_layers:
        model.get_input_embeddings().weight.requires_grad_(False)
    if cfg.freeze_layers:
        layers = modeling.encoder_layers(model)
        if layers is None or cfg.freeze_layers >= len(layers):
            raise KornewsError(f"config: freeze_layers={cfg.freeze_layers} needs an encoder with more layers "
                               f"(this one has {len(layers) if layers is not None else 'no known'} layers)")
        base = getattr(model, model.base_model_prefix)
        base.embeddings.requires_grad_(False)
        for layer in layers[:cfg.freeze_layers]:
            layer.requires_grad_(False)


def param_groups(model, cfg):
    """No weight decay on biases and LayerNorm; optional layer-wise lr decay from the top layer down."""
    layers = modeling.encoder_layers(model) if cfg.layer_lr_decay < 1 else None
    depth = {}
    if layers is not None:
        for i, layer in enumerate(layers):
            for p in layer.parameters():
                depth[id(p)] = len(layers) - i
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if layers is not None and id(p) not in depth and "embeddings" in name:
            d = len(layers) + 1
        else:
            d = depth.get(id(p), 0)
        # embedding tables take no decay: AdamW would also shrink the rows a frozen table never updates
        no_decay = p.ndim < 2 or "norm" in name.lower() or "embeddings" in name or name in ("table.weight", "rows")
        key = (d, no_decay)
        group = groups.setdefault(key, {"params": [], "weight_decay": 0.0 if no_decay else cfg.weight_decay,
                                        "lr": cfg.lr * cfg.layer_lr_decay ** d})
        group["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def scores(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(np.asarray(y))).item()
    return loss, float((logits.argmax(1) == y).mean())


def _distributed():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path / "state.pt", buffer.getvalue())


def _save_model(run: Path, model, tokenizer) -> None:
    hf_logging.disable_progress_bar()  # a "Writing model shards" bar per epoch is noise
    with atomic_dir(run / rundir.MODEL) as tmp:
        modeling.save(model, tmp, tokenizer)


@dataclasses.dataclass
class Progress:
    """What changes from epoch to epoch, and what a checkpoint saves beside the weights."""
    history: list = dataclasses.field(default_factory=list)
    best_loss: float = math.inf
    bad_epochs: int = 0

    @property
    def epoch(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0


def train(cfg, out, *, resume=False, progress=True, log=print) -> dict:
    """Fine-tune per `cfg` into run directory `out`; returns the final metrics."""
    out = Path(out)
    rank, world = _distributed()
    main = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = _device(cfg, world)
    state = _open_run(out, resume)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    saved = out / rundir.CLUSTERER
    p = prepare(cfg, clusterer=clusters.Clusterer.load(saved) if resume and saved.is_dir() else None)
    p.model.to(device)  # built on the CPU first, so a seed starts from the same weights on every device
    if p.label_sets is not None:
        p.label_sets = p.label_sets.to(device)
    freeze_and_cache(p, cfg)
    # buffers (position ids) are constants, the same on every rank: broadcasting them each step is waste, and with
    # the frozen layers swapped out of the forward (cached prefix) DDP's broadcast asserted on an empty list
    ddp = torch.nn.parallel.DistributedDataParallel(p.model, broadcast_buffers=False) if world > 1 else p.model
    optimizer, scheduler = _optimizer(p, cfg, (rank, world))
    if state is not None:
        done = _restore(state, p.model, optimizer, scheduler)
        log(f"resuming {out} after epoch {done.epoch}")
    else:
        done = Progress()
        if cfg.head_init != "random":  # every rank fits the same head on the same articles: replicas stay equal
            head = head_start(p, cfg)
            probing.set_head(p.model, head)
            if main:
                log(f"{HEAD_LOG[cfg.head_init]}={head.setting:g}, validation loss {head.val_loss:.4f}, "
                    f"accuracy {head.val_acc:.4f}")
        if main and not resume:
            _start_run_dir(out, cfg, p, device)
    averager = Ema(p.model, cfg.ema) if cfg.ema else None  # after the probe: the average starts from its head
    if averager is not None and state is not None:
        averager.load_state_dict(state["ema"])

    started = time.time() - (done.history[-1]["elapsed_s"] if done.history else 0.0)
    for epoch in range(done.epoch + 1, cfg.epochs + 1):
        if done.bad_epochs >= cfg.patience:
            break
        totals = _train_epoch(ddp, p, cfg, optimizer, scheduler, epoch, (rank, world), progress and main,
                              log if main else None, averager)
        with _averaged(averager):
            row = _score_epoch(p, cfg, epoch, totals, scheduler)
        improved = row["val_loss"] < done.best_loss - cfg.min_delta
        done.best_loss, done.bad_epochs = (row["val_loss"], 0) if improved else (done.best_loss, done.bad_epochs + 1)
        row.update(best=improved, elapsed_s=round(time.time() - started, 1))
        done.history.append(row)
        if main:
            _end_epoch(out, p, row, done, (optimizer, scheduler, averager), log)
        if world > 1:
            dist.barrier()
    return _finish(out, p.model, done, (rank, world), log)


def _device(cfg, world: int) -> str:
    """The device the run trains on; several processes (DDP) share gradients over gloo, on the CPU."""
    if world > 1:
        if cfg.device not in ("auto", "cpu"):
            raise KornewsError(f"device {cfg.device}: several training processes run on the CPU (gloo); use cpu")
        return "cpu"
    return runtime.device(cfg.device)


def _open_run(out: Path, resume: bool):
    """The checkpoint to resume from (None: start afresh); refuses a finished run or someone else's directory."""
    if resume:
        if (out / rundir.FINAL).is_file():
            raise KornewsError(f"{out}: training already finished")
        ckpt = out / rundir.CHECKPOINT / "state.pt"
        # killed before the first epoch ended: nothing to resume from, so the run starts over in place
        return torch.load(ckpt, weights_only=True, map_location="cpu") if ckpt.is_file() else None
    # every rank checks, so none starts work that rank 0 refuses; `kornews adapt` stages its inputs in adapt/ first
    if out.exists() and any(p.name != rundir.ADAPT for p in out.iterdir()):
        raise KornewsError(f"{out}: run directory exists and is not empty (choose another --out or --resume)")
    return None


def freeze_and_cache(p: Prepared, cfg) -> None:
    freeze(p.model, cfg)
    if cfg.freeze_layers and cfg.cache_frozen and not p.featurizer.spec.mode_row.clusters:
        # frozen bottom layers give the same output every epoch: compute it once, train the top on it
        with runtime.autocast(cfg.precision, modeling.device_of(p.model)):
            p.train, p.val = (modeling.cache_prefix(p.model, f, cfg.freeze_layers, p.pad_id, cfg.eval_batch_size)
                              for f in (p.train, p.val))
            if p.test is not None:
                p.test = modeling.cache_prefix(p.model, p.test, cfg.freeze_layers, p.pad_id, cfg.eval_batch_size)


HEAD_LOG = {"probe": "linear probe: C", "topics": "topic head: scale"}  # what validation chose, by head_init


def head_start(p: Prepared, cfg) -> probing.Probe:
    """The head's last layer as `head_init` starts it, fitted on what it reads from the model as it starts (frozen
    layers from the cache): `probe`, LP-FT's first stage, on the training windows with one label; `topics`, from
    the topics' descriptions (`zeroshot.description`) read as articles, no labelled article setting a weight. Either
    way the validation windows choose its one setting."""
    with runtime.autocast(cfg.precision, modeling.device_of(p.model)):
        x, x_val = (probing.head_inputs(p.model, f, p.pad_id, cfg.eval_batch_size) for f in (p.train, p.val))
        if cfg.head_init == "topics":
            texts = [zeroshot.description(p.id2label[i]) for i in range(len(p.id2label))]
            fields = p.featurizer.spec.mode_row.fields  # a description is the mode's first field, the rest empty
            frame = pd.DataFrame({f: texts if k == 0 else [""] * len(texts) for k, f in enumerate(fields)})
            topics = p.featurizer(p.featurizer.with_clusters(frame))
            x_topics = probing.head_inputs(p.model, topics, p.pad_id, cfg.eval_batch_size)
    y_val = np.asarray(p.val_y)[p.val.doc]
    if cfg.head_init == "probe":
        return probing.fit_probe(x, np.asarray(p.train_y)[p.train.doc], x_val, y_val, len(p.id2label))
    if cfg.head_init == "topics":
        per_topic = np.stack([x_topics[topics.doc == i].mean(0) for i in range(len(texts))])  # windows of a text
        return probing.fit_prototypes(per_topic, x, x_val, y_val)
    raise KornewsError(f"head_init {cfg.head_init!r} fits no head")


def _optimizer(p: Prepared, cfg, shard):
    optimizer = torch.optim.AdamW(param_groups(p.model, cfg), lr=cfg.lr)
    per_epoch = len(modeling.batches(p.train, cfg.batch_size, shard=shard))
    steps = math.ceil(per_epoch / cfg.grad_accum) * cfg.epochs
    schedule = "constant_with_warmup" if cfg.schedule == "constant" else cfg.schedule
    scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=int(cfg.warmup_ratio * steps),
                              num_training_steps=steps)
    return optimizer, scheduler


def _restore(state: dict, model, optimizer, scheduler) -> Progress:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moves the saved moments to the parameters' device
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():  # a GPU run's dropout draws from CUDA's
        torch.cuda.set_rng_state(state["cuda_rng"])
    return Progress(history=state["history"], best_loss=state["best_loss"], bad_epochs=state["bad_epochs"])


def _start_run_dir(out: Path, cfg, p: Prepared, device: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rundir.write_config(out, cfg)
    rundir.write_json(out / rundir.ENV, rundir.environment(cfg, device))
    if p.clusterer is not None:
        p.clusterer.save(out / rundir.CLUSTERER)


def _averaged(averager: Ema | None):
    """The weights validation scores and the saved model holds: the average where the recipe keeps one."""
    return averager.applied() if averager is not None else contextlib.nullcontext()


def _train_epoch(ddp, p: Prepared, cfg, optimizer, scheduler, epoch: int, shard, progress: bool, log,
                 averager: Ema | None = None):
    """One pass over this rank's batches; returns (loss sum, correct, seen, labelled) summed over all ranks."""
    ddp.train()
    device = modeling.device_of(p.model)
    order = modeling.batches(p.train, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch,
                              group_by_length=cfg.group_by_length, shard=shard)
    seen = correct = labelled = 0
    loss_sum = 0.0
    bar = tqdm(order, desc=f"epoch {epoch}", disable=not progress, leave=False)
    for step, idx in enumerate(bar, 1):
        batch = modeling.collate(p.train, idx, p.pad_id, labels=p.train_y, multiple=modeling.TRAIN_PAD_MULTIPLE)
        labels = batch.pop("labels").to(device)
        batch = modeling.to_device(batch, device)
        hidden = p.teacher is not None and p.teacher.hidden is not None
        with runtime.autocast(cfg.precision, device):
            if hidden:  # a student matching the teacher's layers (no cached prefix: every layer of it trains)
                out = ddp(**batch, output_hidden_states=True)
                logits, states = out.logits.float(), out.hidden_states[1:]
            else:
                logits = modeling.forward(ddp, batch, p.train.prefix).float()
        teacher = None if p.teacher is None else torch.from_numpy(p.teacher.logits[idx]).to(device)
        loss = objective(logits, labels, teacher, cfg.distill, p.label_sets)
        if hidden:
            loss = loss + cfg.distill.hidden * hidden_loss(states, p.teacher.hidden, idx, batch["attention_mask"])
        (loss / cfg.grad_accum).backward()
        if step % cfg.grad_accum == 0 or step == len(order):
            torch.nn.utils.clip_grad_norm_(p.model.parameters(), cfg.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if averager is not None:
                averager.update()
        if step % modeling.TRIM_EVERY == 0:
            runtime.release_memory()
        seen += len(idx)
        labelled += int((labels >= 0).sum())  # a student's unlabelled articles count in the loss only
        pred = logits.argmax(1)
        rows = torch.arange(len(pred), device=pred.device)
        correct += int(allowed(labels, logits.shape[1], p.label_sets)[rows, pred].sum())
        loss_sum += loss.item() * len(idx)
        if log is not None and (step % cfg.log_every == 0 or step == len(order)):
            line = (f"[Epoch {epoch} Batch {step}/{len(order)}] loss={loss_sum / seen:.4f} "
                    f"lr={scheduler.get_last_lr()[0]:.3e} acc={correct / max(labelled, 1):.4f}")
            bar.write(line) if progress else log(line)
    bar.close()
    totals = torch.tensor([loss_sum, correct, seen, labelled], dtype=torch.float64)
    if dist.is_initialized():
        dist.all_reduce(totals)
    return totals


def _score_epoch(p: Prepared, cfg, epoch: int, totals, scheduler) -> dict:
    """The epoch's metrics row: training totals, validation (which chooses) and test (which never does)."""
    val_loss, val_acc = scores(modeling.doc_logits(p.model, p.val, p.pad_id, cfg.eval_batch_size), p.val_y)
    row = {"epoch": epoch, "train_loss": round(totals[0].item() / totals[2].item(), 6),
           "train_acc": round(totals[1].item() / max(totals[3].item(), 1), 6),
           "val_loss": round(val_loss, 6), "val_acc": round(val_acc, 6),
           "lr": scheduler.get_last_lr()[0]}
    if p.test is not None:
        test_logits = modeling.doc_logits(p.model, p.test, p.pad_id, cfg.eval_batch_size)
        test_loss, test_acc = scores(test_logits, p.test_y)
        macro = f1_score(p.test_y, test_logits.argmax(1), average="macro")
        row.update(test_loss=round(test_loss, 6), test_acc=round(test_acc, 6), test_macro_f1=round(macro, 6))
    return row


def _end_epoch(out: Path, p: Prepared, row: dict, done: Progress, trainers, log) -> None:
    """Rank 0: report the epoch, keep the model (the average, with `ema`) if it improved, and checkpoint the raw
    weights and what `trainers` (optimizer, scheduler, averager) hold for --resume."""
    optimizer, scheduler, averager = trainers
    log("epoch {epoch}: train_loss={train_loss:.4f} train_acc={train_acc:.4f} val_loss={val_loss:.4f} "
        "val_acc={val_acc:.4f}".format(**row)
        + (" test_acc={test_acc:.4f}".format(**row) if "test_acc" in row else "")
        + (" *" if row["best"] else ""))
    if row["best"]:
        with _averaged(averager):
            _save_model(out, p.model, p.tokenizer)
    rundir.write_metrics(out, done.history)
    _save_checkpoint(out / rundir.CHECKPOINT, {
        "model": p.model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "epoch": row["epoch"],
        "cuda_rng": torch.cuda.get_rng_state() if modeling.device_of(p.model).startswith("cuda") else None,
        "history": done.history, "best_loss": done.best_loss, "bad_epochs": done.bad_epochs,
        "ema": averager.state_dict() if averager is not None else None})


def _finish(out: Path, model, done: Progress, shard, log) -> dict:
    """final.json from the kept epoch; under DDP, proof that the replicas agree; the checkpoint removed."""
    rank, world = shard
    best = [r for r in done.history if r["best"]][-1]  # the epoch whose weights are in model/
    final = {"best_epoch": best["epoch"], "epochs_run": len(done.history), "val_loss": best["val_loss"],
             "val_acc": best["val_acc"], "train_seconds": done.history[-1]["elapsed_s"]}
    if "test_acc" in best:
        final.update(test_loss=best["test_loss"], test_acc=best["test_acc"])
    if world > 1:  # DDP keeps replicas identical; prove it rather than assume it
        checksum = torch.tensor([sum(p.detach().double().sum().item() for p in model.parameters())])
        gathered = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(gathered, checksum.double())
        if len({round(g.item(), 6) for g in gathered}) != 1:
            raise RuntimeError(f"DDP ranks diverged: parameter checksums {[g.item() for g in gathered]}")
        if rank == 0:
            log(f"ranks agree: {world} processes, parameter checksum {checksum.item():.6f}")
    if rank == 0:
        rundir.write_json(out / rundir.FINAL, final)
        shutil.rmtree(out / rundir.CHECKPOINT, ignore_errors=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final
