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

from .adaptation import METHODS as ADAPT_METHODS
from .calibration import METHODS as CALIBRATION_METHODS
from .errors import KornewsError
from .folds import check_val_fraction
from .modes import mode as mode_row
from .runtime import DEVICE_RULE, valid_device
from .tfidf import check_fusion

SCHEDULES = ("linear", "cosine", "constant")
LONG_STRATEGIES = ("head", "head+tail", "chunks")
PRECISIONS = ("auto", "fp32", "bf16")
HEAD_INITS = ("random", "probe", "topics")


@dataclass(frozen=True)
class Columns:
    """Which input column holds each field; the seed's names by default (override: --columns.body=text)."""
    title: str = "title"
    body: str = "cleanBody"
    label: str = "category"
    id: str = "id"


@dataclass
class ClustersConfig:
    k: int = 16
    embedder: str = "use"
    position: str = "cls"  # mode 5: add the cluster embedding at [CLS] only, or at "all" positions


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


@dataclass
class TrainConfig:
    # data
    train: str = "knews8"            # named dataset (knews8, ynat) or a file
    test: str | None = None          # evaluated after every epoch as the seed did; never used for selection
    columns: Columns | None = None  # None: the dataset's own columns (seed defaults for files)
    encoding: str | None = None
    mode: int = 3                    # 1 body, 2 title, 3 title+body, 4 +cluster token, 5 +cluster embedding
    val_fraction: float = 0.1        # stratified split of `train` for early stopping
    title_copies: float = 0.0        # modes 3-5: this share of training articles also seen as their title alone
    # model
    backbone: str = "me5-small-ko"  # me5-small with the vocabulary pruned to Korean news
    max_len: int = 384
    long_strategy: str = "head+tail"  # head | head+tail | chunks (mean of chunk logits at inference)
    dropout: float | None = None     # None keeps the backbone's own
    attention_dropout: float | None = 0.0  # 0 lets attention run fused: a 2x faster step (bench/step.py)
    freeze_embeddings: bool = True   # the 250k-row table is most of the parameters and barely moves
    freeze_layers: int = 8           # freeze the bottom N encoder layers too; their output is computed once
    cache_frozen: bool = True        # false: run the frozen layers every step (with their dropout), as modes 4/5 must
    # random | probe: LP-FT, the head's last layer first fitted as a logistic regression on the encoder's features
    # | topics: that layer's rows set from the topics' descriptions as the encoder reads them (zeroshot.description)
    head_init: str = "random"
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    adapt: AdaptConfig | None = None  # set by `kornews adapt`: continue the source run on pseudo-labelled articles
    distill: DistillConfig | None = None  # set by `kornews distill`: a smaller student of a teacher run
    also: AlsoConfig | None = None   # another labelled source, its labels mapped to these (recipes/korean-news.yaml)
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
    checks = [
        (cfg.adapt is None or cfg.adapt.method in ADAPT_METHODS,
         f"adapt.method must be one of {', '.join(ADAPT_METHODS)}, got {cfg.adapt.method if cfg.adapt else None!r}"),
        (cfg.adapt is None or cfg.adapt.per_topic >= 1,
         f"adapt.per_topic must be at least 1, got {cfg.adapt.per_topic if cfg.adapt else None}"),
        (cfg.adapt is None or cfg.adapt.neighbours >= 0,
         f"adapt.neighbours must be >= 0, got {cfg.adapt.neighbours if cfg.adapt else None}"),
        (cfg.adapt is None or cfg.adapt.min_confidence is None or 0 <= cfg.adapt.min_confidence < 1,
         f"adapt.min_confidence must be in [0, 1), got {cfg.adapt.min_confidence if cfg.adapt else None}"),
        (cfg.adapt is None or cfg.adapt.pseudo is None or not mode_row(cfg.mode).clusters,
         f"self-training continues modes 1-3, not mode {cfg.mode} (its clusters): adapt it with method prior"),
        (cfg.distill is None or cfg.distill.layers >= 1,
         f"distill.layers must be at least 1, got {cfg.distill.layers if cfg.distill else None}"),
        (cfg.distill is None or 0 <= cfg.distill.alpha <= 1,
         f"distill.alpha must be in [0, 1], got {cfg.distill.alpha if cfg.distill else None}"),
        (cfg.distill is None or cfg.distill.temperature > 0,
         f"distill.temperature must be positive, got {cfg.distill.temperature if cfg.distill else None}"),
        (cfg.distill is None or not mode_row(cfg.mode).clusters,
         f"distillation takes modes 1-3, not mode {cfg.mode} (the teacher's clusters are its own)"),
        (cfg.distill is None or cfg.adapt is None, "a run is either adapted or distilled, not both"),
        (cfg.distill is None or cfg.distill.hidden >= 0,
         f"distill.hidden must be >= 0, got {cfg.distill.hidden if cfg.distill else None}"),
        (cfg.distill is None or 0 <= cfg.distill.crops <= 16,
         f"distill.crops must be 0 to 16, got {cfg.distill.crops if cfg.distill else None}"),
        (cfg.distill is None or cfg.freeze_layers < cfg.distill.layers,
         f"freeze_layers must be below the student's {cfg.distill.layers if cfg.distill else None} layers, "
         f"got {cfg.freeze_layers}"),
        (cfg.distill is None or not cfg.distill.hidden or cfg.freeze_layers == 0,
         f"distill.hidden trains every layer to match its teacher's: freeze_layers must be 0, got {cfg.freeze_layers}"),
        (cfg.also is None or (cfg.adapt is None and cfg.distill is None),
         "also: adds labelled articles to an ordinary run, not to an adapted or distilled one"),
        (cfg.also is None or (cfg.also.labels and all(isinstance(v, str) and v.strip("|") for v in
                                                     cfg.also.labels.values())),
         "also.labels must map each of its labels to a label of the run, or to \"a|b\""),
        (cfg.also is None or cfg.also.repeats >= 1,
         f"also.repeats must be at least 1, got {cfg.also.repeats if cfg.also else None}"),
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
        (cfg.head_init == "random" or (cfg.adapt is None and cfg.distill is None),
         f"head_init: {cfg.head_init} fits a new head; an adapted run or a student continues its parent's"),
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


def read_yaml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise KornewsError(f"{path}: recipe not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise KornewsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise KornewsError(f"{path}: a recipe must be a mapping of config keys")
    return values


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
