"""Load a run's model and classify articles: the Python API (`Classifier`) and file-to-file prediction."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import backbones, data, encode, model as model_mod, run as run_mod
from .errors import KornewsError


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """`Classifier.load(run).predict(articles)`; articles are dicts with title/body, strings, or a frame."""

    def __init__(self, model, tokenizer, clusterer=None, batch_size=32):
        self.model = model
        self.tokenizer = tokenizer
        self.clusterer = clusterer
        self.batch_size = batch_size
        self.settings = dict(getattr(model.config, "kornews", None) or {})
        self.mode = int(self.settings.get("mode", 3))
        self.k = int((self.settings.get("clusters") or {}).get("k", 0))
        self.template = encode.Template.from_tokenizer(tokenizer)
        self.cluster_token_ids = (tokenizer.convert_tokens_to_ids(model_mod.cluster_tokens(self.k))
                                  if self.mode == 4 else None)

    @classmethod
    def load(cls, path, **kwargs) -> "Classifier":
        """`path` is a run directory or its model/ directory."""
        path = Path(path)
        model_dir = path / run_mod.MODEL if (path / run_mod.MODEL).is_dir() else path
        if not (model_dir / "config.json").is_file():
            raise KornewsError(f"{path}: not a run directory (missing: {run_mod.MODEL}/config.json)")
        model = model_mod.load(model_dir)
        clusterer = None
        if (getattr(model.config, "kornews", None) or {}).get("mode") in (4, 5):
            from .clusters import Clusterer
            clusterer = Clusterer.load(model_dir.parent / run_mod.CLUSTERER)
        return cls(model, backbones.load_tokenizer(model_dir), clusterer=clusterer, **kwargs)

    def with_clusters(self, df: pd.DataFrame) -> pd.DataFrame:
        """Modes 4 and 5: the run's clusterer assigns new articles; a given cluster column must fit k."""
        if "cluster" not in df:
            from .clusters import article_text
            return df.assign(cluster=self.clusterer.predict(article_text(df)))
        bad = (df["cluster"] < 0) | (df["cluster"] >= self.k)
        if bad.any():
            raise KornewsError(f"cluster id {int(df['cluster'][bad].iloc[0])} is out of range for this run "
                               f"(k={self.k}: ids 0-{self.k - 1}); drop the column to let the run assign clusters")
        return df

    @property
    def labels(self) -> list[str]:
        id2label = self.model.config.id2label
        return [id2label[i] for i in range(len(id2label))]

    @property
    def columns(self) -> data.Columns:
        cols = self.settings.get("columns")
        return data.Columns(**cols) if cols else data.Columns()

    def frame(self, articles) -> pd.DataFrame:
        """Normalise articles to the data layer's frame (title, body[, cluster]).

        A frame already normalised by the data layer passes through; a raw one (the run's column names) is
        normalised; dicts may use title/body or the run's column names; a bare string is the mode's text."""
        if isinstance(articles, pd.DataFrame):
            if {"title", "body"} <= set(articles.columns):
                return articles
            return data.normalize(articles, self.columns, mode=self.mode, labeled=False)
        cols, rows = self.columns, []
        for i, a in enumerate(articles):
            if isinstance(a, str):
                a = {"title": a} if self.mode == 2 else {"body": a}
            title, body = a.get("title", a.get(cols.title)), a.get("body", a.get(cols.body))
            if title is None and body is None:
                raise KornewsError(f"article {i}: no title or body (keys: {', '.join(map(str, a)) or 'none'})")
            row = {"title": str(title or ""), "body": str(body or "")}
            if "cluster" in a:
                row["cluster"] = int(a["cluster"])
            rows.append(row)
        return pd.DataFrame(rows)

    def predict_proba(self, articles, progress=False) -> np.ndarray:
        df = self.frame(articles)
        if df.empty:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.mode in (4, 5):
            df = self.with_clusters(df)
        probs = []
        step = 512  # encode in slices so a huge file streams with bounded memory
        for start in tqdm(range(0, len(df), step), disable=not progress, desc="predict", unit_scale=step):
            part = df.iloc[start:start + step]
            feats = encode.encode(self.tokenizer, self.template, data.mode_inputs(part, self.mode),
                                  int(self.settings.get("max_len", 256)),
                                  self.settings.get("long_strategy", "head"), self.cluster_token_ids)
            probs.append(_softmax(model_mod.doc_logits(self.model, feats, self.template.pad_id, self.batch_size)))
        return np.concatenate(probs)

    def predict(self, articles) -> list[str]:
        labels = self.labels
        return [labels[i] for i in self.predict_proba(articles).argmax(1)]


def predictions_frame(clf: Classifier, df: pd.DataFrame, progress=False) -> pd.DataFrame:
    probs = clf.predict_proba(df, progress=progress)
    labels = clf.labels
    out = pd.DataFrame({"id": df["id"].to_numpy(), "pred": [labels[i] for i in probs.argmax(1)]})
    if "label" in df:
        out.insert(1, "label", df["label"].to_numpy())
    for j, name in enumerate(labels):
        out[f"p_{name}"] = probs[:, j].round(6)
    return out


def write_predictions(frame: pd.DataFrame, dest, fmt=None) -> None:
    """CSV or JSONL to a path (atomically) or to stdout when dest is '-'."""
    fmt = fmt or ("jsonl" if str(dest).endswith((".jsonl", ".json")) else "csv")
    if fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame.to_dict(orient="records"))
    else:
        text = frame.to_csv(index=False)
    if str(dest) == "-":
        sys.stdout.write(text)
    else:
        from .cache import atomic_write_text
        atomic_write_text(Path(dest), text)
