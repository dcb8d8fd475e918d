"""Load a run's model and classify articles: the Python API (`Classifier`) and file-to-file prediction."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import backbones, data, engine as engine_mod, model as model_mod, run as run_mod
from .errors import KornewsError


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def locate(path):
    """(run dir or None, model dir, its config, its InputSpec) for a run directory or a bare model directory,
    without loading any weights."""
    from transformers import AutoConfig
    from .inputs import InputSpec
    path = Path(path)
    run_dir = path if (path / run_mod.MODEL).is_dir() else None
    model_dir = path / run_mod.MODEL if run_dir is not None else path
    if not (model_dir / "config.json").is_file():
        raise KornewsError(f"{path}: not a run directory (missing: {run_mod.MODEL}/config.json)")
    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise KornewsError(f"{model_dir}: model cannot be loaded ({str(e).splitlines()[0]})") from None
    return run_dir, model_dir, config, InputSpec.from_dict(getattr(config, "kornews", None),
                                                           model_mod.max_positions(config))


class Classifier:
    """`Classifier.load(run).predict(articles)`; articles are dicts with title/body, strings, or a frame.

    Composition: the run's `Featurizer` turns articles into features, an `engine` turns features into
    logits (the fastest the run has unless `engine=` names one; `.engine.name` says which); where the run has a
    hybrid (RUN/hybrid/, `kornews hybrid`), its TF-IDF model and fusion turn those into the final probabilities."""

    def __init__(self, featurizer, engine, labels, batch_size=32, hybrid=None):
        self.featurizer, self.engine, self.labels, self.batch_size = featurizer, engine, list(labels), batch_size
        self.hybrid = hybrid

    @classmethod
    def load(cls, path, engine="auto", threads=None, batch_size=32, hybrid=True) -> "Classifier":
        """`path` is a run directory or its model/ directory; `threads`: this process's share of the cores
        (`runtime.threads_for(workers)` when several processes predict side by side); `hybrid=False` ignores
        a run's hybrid and predicts with the encoder alone."""
        from .hybrid import Hybrid
        from .inputs import Featurizer
        run_dir, model_dir, config, spec = locate(path)
        clusterer = None
        if spec.mode_row.clusters:
            from .clusters import Clusterer
            clusterer = Clusterer.load(model_dir.parent / run_mod.CLUSTERER)
        featurizer = Featurizer(spec, backbones.load_tokenizer(model_dir), clusterer)
        labels = [config.id2label[i] for i in range(len(config.id2label))]
        fusion = Hybrid.load(run_dir) if hybrid and run_dir is not None else None
        return cls(featurizer, engine_mod.load(run_dir, model_dir, engine, threads), labels, batch_size, fusion)

    # what the featurizer and engine hold, under the names users of a classifier look for
    spec = property(lambda self: self.featurizer.spec)
    mode = property(lambda self: self.featurizer.spec.mode)
    tokenizer = property(lambda self: self.featurizer.tokenizer)
    cluster_token_ids = property(lambda self: self.featurizer.cluster_token_ids)
    model = property(lambda self: getattr(self.engine, "model", None))

    @property
    def columns(self) -> data.Columns:
        return self.spec.columns or data.Columns()

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
                a = {"title": a} if self.spec.mode_row.fields == ("title",) else {"body": a}
            title, body = a.get("title", a.get(cols.title)), a.get("body", a.get(cols.body))
            if title is None and body is None:
                raise KornewsError(f"article {i}: no title or body (keys: {', '.join(map(str, a)) or 'none'})")
            row = {"title": str(title or ""), "body": str(body or "")}
            if "cluster" in a:
                row["cluster"] = int(a["cluster"])
            rows.append(row)
        return pd.DataFrame(rows)

    def classify(self, articles, progress=False) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities per article, cluster id per article in modes 4/5 else None), in input order."""
        parts, clusters = self.classify_parts(articles, progress)
        return parts.get("fused", parts["encoder"]), clusters

    def classify_parts(self, articles, progress=False) -> tuple[dict, np.ndarray | None]:
        """As `classify`, with the probabilities of each part: {"encoder"} alone, or with a hybrid
        {"encoder", "tfidf", "fused"}."""
        df = self.featurizer.with_clusters(self.frame(articles))
        if df.empty:
            empty = np.zeros((0, len(self.labels)), dtype=np.float32)
            return {"encoder": empty} | ({"tfidf": empty, "fused": empty} if self.hybrid else {}), None
        probs = []
        step = 1024  # featurize in slices so a huge file streams with bounded memory
        with tqdm(total=len(df), disable=not progress, desc="predict", unit=" articles", file=sys.stderr,
                  mininterval=0.5 if sys.stderr.isatty() else 10) as bar:
            for start in range(0, len(df), step):
                part = df.iloc[start:start + step]
                feats = self.featurizer(part)
                windows, done = len(feats["input_ids"]), [0]

                def advance(n):  # windows done → whole articles on the bar
                    done[0] += n
                    bar.update(start + len(part) * done[0] // max(1, windows) - bar.n)
                logits = model_mod.doc_logits_with(self.engine, feats, self.featurizer.pad_id, self.batch_size,
                                                   progress=advance)
                probs.append(_softmax(logits))
        clusters = df["cluster"].to_numpy() if "cluster" in df and self.spec.mode_row.clusters else None
        probs = np.concatenate(probs)
        if self.hybrid is None:
            return {"encoder": probs}, clusters
        from .hybrid import texts
        return self.hybrid.parts(probs, texts(df, self.mode)), clusters

    def predict_proba(self, articles, progress=False) -> np.ndarray:
        return self.classify(articles, progress)[0]

    def predict(self, articles) -> list[str]:
        labels = self.labels
        return [labels[i] for i in self.predict_proba(articles).argmax(1)]


def predictions_frame(clf: Classifier, df: pd.DataFrame, progress=False) -> pd.DataFrame:
    """id, label (if known), pred, cluster (modes 4/5), pred_encoder and pred_tfidf (hybrid runs), p_<topic>."""
    parts, clusters = clf.classify_parts(df, progress=progress)
    probs = parts.get("fused", parts["encoder"])
    labels = clf.labels
    out = pd.DataFrame({"id": df["id"].to_numpy(), "pred": [labels[i] for i in probs.argmax(1)]})
    if "label" in df:
        out.insert(1, "label", df["label"].to_numpy())
    if clusters is not None:
        out["cluster"] = clusters
    if "fused" in parts:  # what each part alone would say: the report compares them
        for name in ("encoder", "tfidf"):
            out[f"pred_{name}"] = [labels[i] for i in parts[name].argmax(1)]
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
