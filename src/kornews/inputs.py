"""How an article becomes model input, decided in one place: the table of modes, the run's input
specification, and the featurizer that train, evaluate, predict, export and serve all call.

    normalized articles (data) ──► Featurizer(spec, tokenizer, clusterer) ──► features (encode) ──► model/engine
"""
import dataclasses
from dataclasses import dataclass

import pandas as pd

from . import encode
from .config import Columns, ClustersConfig, TrainConfig
from .errors import KornewsError


@dataclass(frozen=True)
class Mode:
    fields: tuple        # the article fields fed to the tokenizer; two make a real (title, body) pair
    clusters: bool       # needs the run's clusterer (a cluster id per article)
    wrapper: str | None  # how the cluster id reaches the model: "token" (a [Ci] token), "embedding", or none
    text: str


MODES = {
    1: Mode(("body",), False, None, "body"),
    2: Mode(("title",), False, None, "title"),
    3: Mode(("title", "body"), False, None, "title+body pair"),
    4: Mode(("title", "body"), True, "token", "title+body pair with a cluster token"),
    5: Mode(("title", "body"), True, "embedding", "title+body pair with a cluster embedding"),
}
MODES_TEXT = "1 (body), 2 (title), 3 (title+body pair), 4 or 5 (title+body pair with the run's clusters)"


def mode(number) -> Mode:
    if isinstance(number, bool) or number not in MODES:
        raise KornewsError(f"invalid mode {number!r}: choose {MODES_TEXT}")
    return MODES[number]


def cluster_tokens(k: int) -> list[str]:
    """Mode 4's special tokens, one per cluster."""
    return [f"[C{i}]" for i in range(k)]


@dataclass(frozen=True)
class InputSpec:
    """What a run's model expects; saved in model/config.json (`kornews`), so a model directory says how to
    feed it. Defaults are the training defaults (one owner: TrainConfig)."""
    mode: int = TrainConfig.mode
    max_len: int = TrainConfig.max_len
    long_strategy: str = TrainConfig.long_strategy
    columns: Columns | None = None         # the training file's column names; None: the dataset's own
    clusters: ClustersConfig | None = None  # modes 4 and 5 only

    def __post_init__(self):
        if mode(self.mode).clusters and self.clusters is None:
            raise KornewsError(f"mode {self.mode} needs cluster settings (k, embedder, position)")

    @property
    def mode_row(self) -> Mode:
        return MODES[self.mode]

    @classmethod
    def from_config(cls, cfg) -> "InputSpec":
        return cls(mode=cfg.mode, max_len=cfg.max_len, long_strategy=cfg.long_strategy, columns=cfg.columns,
                   clusters=cfg.clusters if MODES[cfg.mode].clusters else None)

    def to_dict(self) -> dict:
        out = {"mode": self.mode, "max_len": self.max_len, "long_strategy": self.long_strategy,
               "columns": dataclasses.asdict(self.columns) if self.columns else None}
        if self.clusters is not None:
            out["clusters"] = dataclasses.asdict(self.clusters)
        return out

    @classmethod
    def from_dict(cls, values: dict | None, max_positions: int | None = None) -> "InputSpec":
        """The `kornews` block of a model config; an absent one (a plain Hugging Face classifier) gets the
        defaults, cut to the model's position limit."""
        values = dict(values or {})
        columns, clusters = values.get("columns"), values.get("clusters")
        spec = cls(mode=int(values.get("mode", cls.mode)),
                   max_len=int(values.get("max_len", cls.max_len)),
                   long_strategy=values.get("long_strategy", cls.long_strategy),
                   columns=Columns(**columns) if columns else None,
                   clusters=ClustersConfig(**clusters) if clusters else None)
        if max_positions and spec.max_len > max_positions:
            spec = dataclasses.replace(spec, max_len=max_positions)
        return spec


def mode_inputs(df: pd.DataFrame, number) -> dict:
    """Model inputs of normalized articles for a mode: {"text", "text_pair", "cluster"}.

    One field: text is that field. Two: text = title, text_pair = body; a row with only one of them has it
    as its text and None as its pair (never an empty pair), so `text_pair` is a list[str | None]. Modes 4
    and 5 add the `cluster` column as ints. Features are never concatenated into one string: the tokenizer
    sees a real pair.
    """
    m = mode(number)
    cluster = None
    if m.clusters:
        if "cluster" not in df:
            raise KornewsError(f"mode {number} needs a cluster column; it is filled by the run's clusterer")
        cluster = [int(c) for c in df["cluster"]]
    if len(m.fields) == 1:
        return {"text": list(df[m.fields[0]]), "text_pair": None, "cluster": cluster}
    titles, bodies = list(df["title"]), list(df["body"])
    return {"text": [t or b for t, b in zip(titles, bodies)],
            "text_pair": [b if t and b else None for t, b in zip(titles, bodies)],
            "cluster": cluster}


class Featurizer:
    """spec + tokenizer (+ the run's clusterer in modes 4/5) → features of normalized articles.

    Mode 4's tokenizer must already hold the cluster tokens (`model.add_cluster_tokens` while training; a
    saved run's tokenizer has them)."""

    def __init__(self, spec: InputSpec, tokenizer, clusterer=None):
        self.spec, self.tokenizer, self.clusterer = spec, tokenizer, clusterer
        self.template = encode.Template.from_tokenizer(tokenizer)
        self.cluster_token_ids = None
        if spec.mode_row.wrapper == "token":
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
            from .clusters import article_text
            return df.assign(cluster=self.clusterer.predict(article_text(df)))
        bad = (df["cluster"] < 0) | (df["cluster"] >= k)
        if bad.any():
            raise KornewsError(f"cluster id {int(df['cluster'][bad].iloc[0])} is out of range for this run "
                               f"(k={k}: ids 0-{k - 1}); drop the column to let the run assign clusters")
        return df

    def __call__(self, df: pd.DataFrame, cache_dir=None) -> dict:
        """Features of articles that already carry their cluster (see `with_clusters`)."""
        return encode.encode(self.tokenizer, self.template, mode_inputs(df, self.spec.mode), self.spec.max_len,
                             self.spec.long_strategy, cluster_token_ids=self.cluster_token_ids,
                             cache_dir=cache_dir)
