"""Typed training configuration: dataclass defaults, YAML recipes, `--key=value` overrides, validation.

Precedence: dataclass defaults < recipe YAML < command-line overrides. Every value is checked against
its field's type and range before anything is written, so a bad config never leaves a half-made run.
"""
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text, read_yaml
from kornews.core.runtime import DEVICE_RULE, valid_device
from kornews.data.datasets import Columns
from kornews.data.folds import check_val_fraction
from kornews.data.modes import mode as mode_row
from kornews.model.featurize import ClustersConfig, InputSpec
from kornews.stats.confidence import METHODS as CALIBRATION_METHODS
from kornews.stats.tfidf import check_fusion
from kornews.training.ways import AdaptConfig, AlsoConfig, DistillConfig, LearnConfig

SCHEDULES = ("linear", "cosine", "constant")
LONG_STRATEGIES = ("head", "head+tail", "chunks")
PRECISIONS = ("auto", "fp32", "bf16")
HEAD_INITS = ("random", "probe", "topics")


@dataclass
class TrainConfig:
    # data
    train: str = "knews8"            # named dataset (knews8, ynat) or a file
    test: str | None = None          # evaluated after every epoch as the seed did; never used for selection
    columns: Columns | None = None  # None: the dataset's own columns (seed defaults for files)
    encoding: str | None = None
    mode: int = InputSpec.mode       # 1 body, 2 title, 3 title+body, 4 +cluster token, 5 +cluster embedding
    val_fraction: float = 0.1        # stratified split of `train` for early stopping
    title_copies: float = 0.0        # modes 3-5: this share of training articles also seen as their title alone
    # model
    backbone: str = "me5-small-ko"  # me5-small with the vocabulary pruned to Korean news
    max_len: int = InputSpec.max_len
    long_strategy: str = InputSpec.long_strategy  # head | head+tail | chunks (mean of chunk logits at inference)
    dropout: float | None = None     # None keeps the backbone's own
    attention_dropout: float | None = 0.0  # 0 lets attention run fused: a 2x faster step (docs/results/benchmarks-history.md, step speed)
    freeze_embeddings: bool = True   # the 250k-row table is most of the parameters and barely moves
    freeze_layers: int = 8           # freeze the bottom N encoder layers too; their output is computed once
    cache_frozen: bool = True        # false: run the frozen layers every step (with their dropout), as modes 4/5 must
    # random | probe: LP-FT, the head's last layer first fitted as a logistic regression on the encoder's features
    # | topics: that layer's rows set from the topics' descriptions as the encoder reads them (descriptions.description)
    head_init: str = "random"
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    adapt: AdaptConfig | None = None  # set by `kornews adapt`: continue the source run on pseudo-labelled articles
    distill: DistillConfig | None = None  # set by `kornews distill`: a smaller student of a teacher run
    also: AlsoConfig | None = None   # another labelled source, its labels mapped to these (recipes/korean-news.yaml)
    learn: LearnConfig | None = None  # set by `kornews learn`: continue the source run on an editor's labels
    # optimisation
    epochs: int = 4
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 2e-4
    ema: float = 0.0                 # decay of a moving average of the weights that validation and the saved model use
    layer_lr_decay: float = 1.0      # the top layer gets lr * decay, each one below one more factor; 1.0: off
    weight_decay: float = 0.01       # never applied to biases and LayerNorm weights
    warmup_ratio: float = 0.1
    schedule: str = "linear"
    clip: float = 1.0
    patience: int = 2                # early stopping on validation loss
    min_delta: float = 0.0
    group_by_length: bool = True     # length-grouped batches: less padding, same shuffling
    # beside the encoder, a TF-IDF model and a fusion fitted on validation (average | stack | gate; see tfidf.py)
    fusion: str | None = None
    # bookkeeping
    precision: str = "auto"          # training matmuls in bf16 where the CPU has bf16 units (AMX, AVX512-BF16)
    seed: int = 42
    # None: `seed`. Runs that differ only in seed but share these split the same validation articles and start
    # from the same head, so their weights can be averaged (`kornews soup`)
    split_seed: int | None = None
    init_seed: int | None = None
    threads: int | None = None       # torch intra-op threads; None: torch's default
    device: str = "auto"             # auto: a CUDA GPU where torch sees one, else the CPU; or cpu, cuda, cuda:N
    log_every: int = 10              # one progress line every N batches
    eval_batch_size: int = 64
    # how the validation split calibrates the run's confidence: top-label scaling (held-out ECE 0.028 and 0.022 over
    # two seeds of 5 folds, against 0.039 and 0.030 for one temperature: docs/benchmarks.md), or one temperature
    calibration_method: str = "top-label"


def _fields(cls) -> dict:
    return {f.name: f for f in dataclasses.fields(cls)}


def _coerce(value, tp, key):
    """Check `value` against the annotation `tp`; ints may stand for floats. Returns the value."""
    args = typing.get_args(tp)
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except KornewsError as e:
                errors.append(str(e))
        raise KornewsError(errors[0] if errors else f"config: {key} cannot be null")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise KornewsError(f"config: {key} must be a mapping, got {value!r}")
        return _build(tp, value, prefix=f"{key}.")
    if tp is float and not isinstance(value, bool) and isinstance(value, (int, str)):
        try:
            return float(value)  # YAML 1.1 reads 3e-4 (no dot) as a string
        except ValueError:
            raise KornewsError(f"config: {key} must be a number, got {value!r}") from None
    if tp is bool and not isinstance(value, bool):
        raise KornewsError(f"config: {key} must be true or false, got {value!r}")
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise KornewsError(f"config: {key} must be {tp.__name__}, got {value!r}")
    return value


def _build(cls, values: dict, prefix=""):
    known = _fields(cls)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise KornewsError(f"config: unknown key '{prefix}{key}'{hint}")
    kwargs = {k: _coerce(v, known[k].type, prefix + k) for k, v in values.items()}
    return cls(**kwargs)


def validate(cfg: TrainConfig) -> TrainConfig:
    """Every bound of a config; the mode, val_fraction and fusion bounds are their owners' checks."""
    try:
        mode_row(cfg.mode), check_val_fraction(cfg.val_fraction)
        if cfg.fusion is not None:
            check_fusion(cfg.fusion)
    except KornewsError as e:
        raise KornewsError(f"config: {e}") from None
    checks = [check for block in (cfg.adapt, cfg.distill, cfg.also, cfg.learn) if block is not None
              for check in block.problems(cfg)] + [
        (cfg.lr > 0, f"lr must be positive, got {cfg.lr}"),
        (cfg.epochs >= 1, f"epochs must be at least 1, got {cfg.epochs}"),
        (cfg.batch_size >= 1, f"batch_size must be at least 1, got {cfg.batch_size}"),
        (cfg.grad_accum >= 1, f"grad_accum must be at least 1, got {cfg.grad_accum}"),
        (cfg.max_len >= 8, f"max_len must be at least 8, got {cfg.max_len}"),
        (0 <= cfg.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {cfg.warmup_ratio}"),
        (0 <= cfg.title_copies <= 1, f"title_copies must be in [0, 1], got {cfg.title_copies}"),
        (not cfg.title_copies or mode_row(cfg.mode).pair,
         f"title_copies needs a mode that reads title and body (3, 4 or 5), not mode {cfg.mode}"),
        (cfg.weight_decay >= 0, f"weight_decay must be >= 0, got {cfg.weight_decay}"),
        (cfg.clip > 0, f"clip must be positive, got {cfg.clip}"),
        (cfg.head_init in HEAD_INITS, f"head_init must be one of {', '.join(HEAD_INITS)}, got {cfg.head_init!r}"),
        (cfg.head_init == "random" or (cfg.adapt is None and cfg.distill is None and cfg.learn is None),
         f"head_init: {cfg.head_init} fits a new head; an adapted, taught or student run continues its parent's"),
        (0 <= cfg.ema < 1, f"ema must be in [0, 1) (0: off), got {cfg.ema}"),
        (0 < cfg.layer_lr_decay <= 1, f"layer_lr_decay must be in (0, 1], got {cfg.layer_lr_decay}"),
        (cfg.patience >= 1, f"patience must be at least 1, got {cfg.patience}"),
        (cfg.dropout is None or 0 <= cfg.dropout < 1, f"dropout must be in [0, 1), got {cfg.dropout}"),
        (cfg.attention_dropout is None or 0 <= cfg.attention_dropout < 1,
         f"attention_dropout must be in [0, 1), got {cfg.attention_dropout}"),
        (cfg.calibration_method in CALIBRATION_METHODS, f"calibration_method must be one of "
         f"{', '.join(CALIBRATION_METHODS)}, got {cfg.calibration_method!r}"),
        (cfg.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}"),
        (cfg.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg.schedule!r}"),
        (cfg.long_strategy in LONG_STRATEGIES,
         f"long_strategy must be one of {', '.join(LONG_STRATEGIES)}, got {cfg.long_strategy!r}"),
        (cfg.clusters.k >= 2, f"clusters.k must be at least 2, got {cfg.clusters.k}"),
        (cfg.clusters.position in ("cls", "all"),
         f"clusters.position must be cls or all, got {cfg.clusters.position!r}"),
        (cfg.freeze_layers >= 0, f"freeze_layers must be >= 0, got {cfg.freeze_layers}"),
        (cfg.threads is None or cfg.threads >= 1, f"threads must be at least 1, got {cfg.threads}"),
        (valid_device(cfg.device), f"{DEVICE_RULE}, got {cfg.device!r}"),
        (cfg.eval_batch_size >= 1, f"eval_batch_size must be at least 1, got {cfg.eval_batch_size}"),
        (cfg.min_delta >= 0, f"min_delta must be >= 0, got {cfg.min_delta}"),
        (cfg.log_every >= 1, f"log_every must be at least 1, got {cfg.log_every}"),
    ]
    for ok, message in checks:
        if not ok:
            raise KornewsError(f"config: {message}")
    return cfg


def parse_overrides(items: list[str]) -> dict:
    """`--key=value` / `--a.b=value` → nested dict; values are read as YAML scalars (1e-4, true, null)."""
    dotted = {}
    for item in items:
        if not item.startswith("--") or "=" not in item:
            raise KornewsError(f"config: expected --key=value, got {item!r}")
        key, raw = item[2:].split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        dotted[key.replace("-", "_")] = value
    return nest(dotted)


def nest(dotted: dict) -> dict:
    """{"a.b": v} → {"a": {"b": v}}: dotted keys (overrides, a grid's cells) as the nested mapping a recipe is."""
    out: dict = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def merge(base: dict, extra: dict) -> dict:
    """`extra` over `base`, nested mappings merged key by key."""
    merged = dict(base)
    for k, v in extra.items():
        merged[k] = merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def load(recipe=None, overrides=(), base: dict | None = None) -> TrainConfig:
    values = dict(base or {})
    extra = parse_overrides(list(overrides))  # first: a malformed override is the likelier mistake
    if recipe:
        values = merge(values, read_yaml(recipe))
    values = merge(values, extra)
    return validate(_build(TrainConfig, values))


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def dump(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


def write_run(run: Path, cfg) -> None:
    """RUN/config.yaml: the resolved config, every default written out."""
    atomic_write_text(Path(run) / rundir.CONFIG, dump(cfg))


def read_run(run) -> TrainConfig:
    """The config a run trained with, checked as a recipe is (runs of earlier versions included)."""
    run = rundir.require(run, rundir.CONFIG)
    return load(base=read_yaml(run / rundir.CONFIG))
