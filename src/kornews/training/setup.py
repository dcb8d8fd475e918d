"""Everything a run derives from its config before the first step: the labelled articles and their split, what its
way of training adds, the model (from the backbone or a parent run), the features, the frozen layers' cache, and
the head's start. The loop then trains on the `Prepared` it gets and knows none of this."""
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kornews.core import files, rundir, runtime
from kornews.core.errors import KornewsError
from kornews.data import articles, folds
from kornews.data.labels import LabelMap
from kornews.model import backbones, descriptions, embedding, modeling
from kornews.model.encode import Features
from kornews.model.featurize import Featurizer, InputSpec
from kornews.training import config, probing, ways
from kornews.training.ways import TrainingSet, Way


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


def read_split(cfg, source: str, split: str):
    """The labelled articles of one of the config's sources, read as every verb reads them."""
    return articles.read(source, mode=cfg.mode, columns=cfg.columns, split=split, encoding=cfg.encoding).frame


@dataclasses.dataclass
class Splits:
    """A config's labelled articles as its run uses them: the one place training, calibration and the hybrid take
    them from, so each sees the same stratified split by the same seed."""
    labels: LabelMap
    train: pd.DataFrame           # the run's own training split
    own_validation: pd.DataFrame  # the rest of its source
    validation: pd.DataFrame      # what chooses the epoch: the way's (a taught run's held-out labels), else the above
    calibration: pd.DataFrame     # what fits the calibration once training ends

    @property
    def validation_note(self) -> str:
        return (f"validation split ({len(self.validation)} articles)" if self.validation is self.own_validation
                else f"held-out labels ({len(self.validation)} articles)")

    @property
    def calibration_note(self) -> str:
        return (f"validation split ({len(self.calibration)} articles)" if self.calibration is self.own_validation
                else f"held-out labels and validation split ({len(self.calibration)} articles)")


def splits(cfg, way: Way | None = None) -> Splits:
    """`cfg`'s training source split as its run splits it; `way`: the way of training it asks for, unless given."""
    way = ways.of(cfg) if way is None else way
    df = read_split(cfg, cfg.train, "train")
    tr, va = folds.validation_split(cfg, df)
    if va.empty:
        raise KornewsError(f"config: val_fraction={cfg.val_fraction} leaves no validation articles for early "
                           f"stopping ({len(df)} training articles); raise it or add data")
    return Splits(labels=way.topics(LabelMap.fit(df["label"])), train=tr, own_validation=va,
                  validation=way.validation(va), calibration=way.calibration(va))


def title_copies(df, share: float, seed: int):
    """`df` plus title-only copies of `share` of its titled articles (drawn by `seed`), for input that arrives as
    bare headlines. On headlines from another source it hurt (docs/benchmarks.md, recipe search): off by default."""
    titled = df[df["title"] != ""]
    n = round(share * len(titled))
    if n == 0:
        return df
    copies = titled.sample(n=n, random_state=seed) if n < len(titled) else titled
    return pd.concat([df, copies.assign(body="")], ignore_index=True)


def prepare(cfg, way: Way | None = None, clusterer=None, resumed: Path | None = None, log=None) -> Prepared:
    """The run `cfg` describes, ready for its first step; `way`: the way of training it asks for, unless given;
    `resumed`: the run directory being resumed (its clusterer is kept); `log` hears a line per stage, saying what it
    found."""
    way = ways.of(cfg) if way is None else way
    if clusterer is None and resumed is not None and (Path(resumed) / rundir.CLUSTERER).is_dir():
        clusterer = embedding.Clusterer.load(Path(resumed) / rundir.CLUSTERER)
    say = log or (lambda line: None)
    split = splits(cfg, way)
    labels, tr, va = split.labels, split.train, split.own_validation
    say(f"data: {cfg.train}: {len(tr) + len(va):,} labelled articles in {len(labels)} topics → {len(tr):,} to train "
        f"on, {len(va):,} to validate (stratified, seed {cfg.seed if cfg.split_seed is None else cfg.split_seed})")
    test_df = read_split(cfg, cfg.test, "test") if cfg.test else None
    if test_df is not None:
        say(f"data: {cfg.test}: {len(test_df):,} test articles, scored every epoch, never choosing")
    test_y = (np.asarray(labels.encode(test_df["label"], source=cfg.test, rows=test_df["row"]))
              if test_df is not None else None)
    spec = InputSpec.from_config(cfg)
    if spec.mode_row.clusters and clusterer is None:  # fitted on the training split only
        clusterer = embedding.Clusterer(cfg.clusters.k, cfg.clusters.embedder, cfg.seed)
        clusterer.fit(embedding.article_text(tr))
    tr = title_copies(tr, cfg.title_copies, cfg.seed)  # after the clusterer: it learns from whole articles
    # after the split: validation stays the run's own labelled articles, whatever the way adds
    own = way.articles(TrainingSet(tr, np.asarray(labels.encode(tr["label"]))), labels)
    if len(own) > len(tr):
        say(f"data: {way.block}: {len(own) - len(tr):,} more training rows ({(own.y < 0).sum():,} without a label)")
    if split.validation is not va:
        va = split.validation
        say(f"data: {way.block}: its {len(va):,} held-out articles validate instead")

    parent = way.parent()  # a run continued (head included) or cut from; else the backbone
    path = str(Path(parent) / rundir.MODEL) if parent is not None else backbones.resolve(cfg.backbone, log=log)
    say(f"model: {'the run ' + parent if parent is not None else cfg.backbone} ({path})")
    tok = backbones.load_tokenizer(path)
    model = modeling.build(path, labels.id2label, dropout=cfg.dropout, attention_dropout=cfg.attention_dropout,
                            spec=spec, seed=cfg.seed if cfg.init_seed is None else cfg.init_seed,
                            keep_head=parent is not None)
    if cfg.init_seed is not None:  # dropout and the rest draw from the run's own seed, not the head's
        torch.manual_seed(cfg.seed)
    model = way.shape(model)
    try:
        spec.check_positions(modeling.max_positions(model), cfg.backbone)
    except KornewsError as e:
        raise KornewsError(f"config: {e}") from None
    model = modeling.wrap(model, spec, tok)
    featurizer = Featurizer(spec, tok, clusterer)

    def feats(frame):  # val and test articles get their clusters like new articles
        return featurizer(featurizer.with_clusters(frame), cache_dir=files.home() / "tokens")

    train, val = feats(own.frame), feats(va)
    test = feats(test_df) if test_df is not None else None
    say(f"features: mode {cfg.mode}, at most {cfg.max_len} tokens ({cfg.long_strategy}): {len(train):,} training "
        f"windows, {len(val):,} validation" + (f", {len(test):,} test" if test is not None else ""))
    way.attach(train, own.frame, featurizer)
    return Prepared(model=model, tokenizer=tok, pad_id=featurizer.pad_id, id2label=labels.id2label,
                    featurizer=featurizer, clusterer=clusterer, train=train, train_y=own.y, val=val,
                    val_y=np.asarray(labels.encode(va["label"])), test=test, test_y=test_y)


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


def freeze_and_cache(p: Prepared, cfg, log=None, progress=False) -> None:
    freeze(p.model, cfg)
    if cfg.freeze_layers and cfg.cache_frozen and not p.featurizer.spec.mode_row.clusters:
        # frozen bottom layers give the same output every epoch: compute it once, train the top on it
        if log is not None:
            windows = len(p.train) + len(p.val) + (len(p.test) if p.test is not None else 0)
            log(f"frozen layers: computing the bottom {cfg.freeze_layers} once for {windows:,} windows")

        def cached(features, name):
            return modeling.cache_prefix(p.model, features, cfg.freeze_layers, p.pad_id, cfg.eval_batch_size,
                                         progress=f"frozen layers, {name}" if progress else "")

        with runtime.autocast(cfg.precision, modeling.device_of(p.model)):
            p.train, p.val = cached(p.train, "training"), cached(p.val, "validation")
            if p.test is not None:
                p.test = cached(p.test, "test")


HEAD_LOG = {"probe": "linear probe: C", "topics": "topic head: scale"}  # what validation chose, by head_init


def head_start(p: Prepared, cfg) -> probing.Probe:
    """The head's last layer as `head_init` starts it, fitted on what it reads from the model as it starts (frozen
    layers from the cache): `probe`, LP-FT's first stage, on the training windows with one label; `topics`, from
    the topics' descriptions (`descriptions.description`) read as articles, no labelled article setting a weight.
    Either way the validation windows choose its one setting."""
    with runtime.autocast(cfg.precision, modeling.device_of(p.model)):
        x, x_val = (probing.head_inputs(p.model, f, p.pad_id, cfg.eval_batch_size) for f in (p.train, p.val))
        if cfg.head_init == "topics":
            texts = [descriptions.description(p.id2label[i]) for i in range(len(p.id2label))]
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


def start_head(p: Prepared, cfg, log) -> None:
    """A fresh run's head as `head_init` asks (every DDP rank fits the same head on the same articles, so replicas
    stay equal); `random` keeps the one the model was built with."""
    if cfg.head_init == "random":
        return
    head = head_start(p, cfg)
    probing.set_head(p.model, head)
    if log is not None:
        log(f"{HEAD_LOG[cfg.head_init]}={head.setting:g}, validation loss {head.val_loss:.4f}, "
            f"accuracy {head.val_acc:.4f}")


def start_run_dir(out: Path, cfg, p: Prepared, device: str) -> None:
    """A new run directory: its config, where it ran, and its clusterer (modes 4 and 5)."""
    out.mkdir(parents=True, exist_ok=True)
    config.write_run(out, cfg)
    rundir.write_json(out / rundir.ENV, rundir.environment(cfg, device))
    if p.clusterer is not None:
        p.clusterer.save(out / rundir.CLUSTERER)
