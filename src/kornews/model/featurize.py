"""How an article becomes model input, decided in one place: the run's input specification and the featurizer
that training, evaluation, prediction, export and serving all call.

    articles (articles.read) ──► Featurizer(spec, tokenizer, clusterer) ──► Features (encode) ──► model/engine
"""
import dataclasses
from dataclasses import dataclass

import pandas as pd

from kornews.core.errors import KornewsError
from kornews.data.datasets import Columns
from kornews.data.modes import Mode, cluster_tokens, mode, mode_inputs
from kornews.model import encode
from kornews.model.encode import Features


@dataclass
class ClustersConfig:
    k: int = 16
    embedder: str = "use"
    position: str = "cls"  # mode 5: add the cluster embedding at [CLS] only, or at "all" positions


@dataclass(frozen=True)
class InputSpec:
    """What a run's model expects; saved in model/config.json (`kornews`), so a model directory says how to
    feed it. Its defaults are the training defaults (TrainConfig reads them from here)."""
    mode: int = 3                          # 1 body, 2 title, 3 title+body, 4 +cluster token, 5 +cluster embedding
    max_len: int = 384
    long_strategy: str = "head+tail"       # head | head+tail | chunks (mean of chunk logits at inference)
    columns: Columns | None = None         # the training file's column names; None: the dataset's own
    clusters: ClustersConfig | None = None  # modes 4 and 5 only

    def __post_init__(self):
        if mode(self.mode).clusters and self.clusters is None:
            raise KornewsError(f"mode {self.mode} needs cluster settings (k, embedder, position)")

    @property
    def mode_row(self) -> Mode:
        return mode(self.mode)

    def check_positions(self, limit: int, what: str = "the model") -> "InputSpec":
        """The one check of max_len against a model's position limit: the same answer in training and at load."""
        if self.max_len > limit:
            raise KornewsError(f"max_len {self.max_len} exceeds the limit of {limit} positions of {what}")
        return self

    @classmethod
    def from_config(cls, cfg) -> "InputSpec":
        return cls(mode=cfg.mode, max_len=cfg.max_len, long_strategy=cfg.long_strategy, columns=cfg.columns,
                   clusters=cfg.clusters if mode(cfg.mode).clusters else None)

    def to_dict(self) -> dict:
        out = {"mode": self.mode, "max_len": self.max_len, "long_strategy": self.long_strategy,
               "columns": dataclasses.asdict(self.columns) if self.columns else None}
        if self.clusters is not None:
            out["clusters"] = dataclasses.asdict(self.clusters)
        return out

    @classmethod
    def from_dict(cls, values: dict | None, max_positions: int | None = None) -> "InputSpec":
        """The `kornews` block of a model config, checked against the model's position limit; an absent one (a
        plain Hugging Face classifier) gets the defaults, its max_len the limit where that is lower."""
        if not values and max_positions:
            return cls(max_len=min(cls.max_len, max_positions))
        values = dict(values or {})
        columns, clusters = values.get("columns"), values.get("clusters")
        spec = cls(mode=int(values.get("mode", cls.mode)),
                   max_len=int(values.get("max_len", cls.max_len)),
                   long_strategy=values.get("long_strategy", cls.long_strategy),
                   columns=Columns(**columns) if columns else None,
                   clusters=ClustersConfig(**clusters) if clusters else None)
        return spec.check_positions(max_positions) if max_positions else spec


class Featurizer:
    """spec + tokenizer (+ the run's clusterer in modes 4/5) → features of normalized articles.

    Mode 4's tokenizer must already hold the cluster tokens (`model.add_cluster_tokens` while training; a
    saved run's tokenizer has them)."""

    def __init__(self, spec: InputSpec, tokenizer, clusterer=None):
        self.spec, self.tokenizer, self.clusterer = spec, tokenizer, clusterer
        self.template = encode.Template.from_tokenizer(tokenizer)
        self.cluster_token_ids = None
        if spec.mode_row.cluster_token:
            names = cluster_tokens(spec.clusters.k)
            ids = tokenizer.convert_tokens_to_ids(names)
            if tokenizer.unk_token_id in ids:
                raise KornewsError(f"mode 4: the tokenizer lacks the cluster tokens {names[0]}..{names[-1]}")
            self.cluster_token_ids = ids

    @property
    def pad_id(self) -> int:
        return self.template.pad_id

    def with_clusters(self, df: pd.DataFrame) -> pd.DataFrame:
        """Modes 4 and 5: the run's clusterer assigns articles without a cluster; a given one must fit k."""
        if not self.spec.mode_row.clusters:
            return df
        k = self.spec.clusters.k
        if "cluster" not in df:
            if self.clusterer is None:
                raise KornewsError(f"mode {self.spec.mode} needs the run's clusterer (clusterer/ in the run)")
            from kornews.model.embedding import article_text
            return df.assign(cluster=self.clusterer.predict(article_text(df)))
        bad = (df["cluster"] < 0) | (df["cluster"] >= k)
        if bad.any():
            raise KornewsError(f"cluster id {int(df['cluster'][bad].iloc[0])} is out of range for this run "
                               f"(k={k}: ids 0-{k - 1}); drop the column to let the run assign clusters")
        return df

    def __call__(self, df: pd.DataFrame, cache_dir=None) -> Features:
        """Features of articles that already carry their cluster (see `with_clusters`)."""
        return encode.encode(self.tokenizer, self.template, mode_inputs(df, self.spec.mode), self.spec.max_len,
                             self.spec.long_strategy, cluster_token_ids=self.cluster_token_ids,
                             cache_dir=cache_dir)
