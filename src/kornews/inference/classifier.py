"""Load a run's model and classify articles: the Python API (`Classifier`), the predictions frame and its writer."""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.data import articles
from kornews.data.datasets import Columns
from kornews.data.labels import LabelMap
from kornews.data.modes import headline_only
from kornews.inference import engines
from kornews.inference.explain import Word, as_text, explain_words
from kornews.model import backbones, modeling
from kornews.model.embedding import Clusterer
from kornews.model.featurize import Featurizer, InputSpec
from kornews.stats.confidence import Calibration
from kornews.stats.tfidf import Hybrid, texts
from kornews.stats.transfer import PriorShift


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def locate(path):
    """(run dir or None, model dir, its config, its InputSpec) for a run directory or a bare model directory,
    without loading any weights."""
    from transformers import AutoConfig
    path = Path(path)
    run_dir = path if (path / rundir.MODEL).is_dir() else None
    model_dir = path / rundir.MODEL if run_dir is not None else path
    if not (model_dir / "config.json").is_file():
        raise KornewsError(f"{path}: not a run directory (missing: {rundir.MODEL}/config.json)")
    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise KornewsError(f"{model_dir}: model cannot be loaded ({str(e).splitlines()[0]})") from None
    return run_dir, model_dir, config, InputSpec.from_dict(getattr(config, "kornews", None),
                                                           modeling.max_positions(config))


@dataclass
class Scores:
    """What a classifier says of its articles, in input order. `probs` is what a user gets: the encoder's, fused
    with TF-IDF where the run has a hybrid, then tempered where it is calibrated, then re-weighted for the target's
    topic mix where the run was adapted (`kornews adapt`); `raw` the same before the temperature and the prior
    shift; `encoder` and `tfidf` each part alone (`tfidf` None without a hybrid)."""
    probs: np.ndarray
    raw: np.ndarray
    encoder: np.ndarray
    tfidf: np.ndarray | None = None
    clusters: np.ndarray | None = None   # modes 4/5: the cluster each article was given
    headline: np.ndarray | None = None   # articles tempered as headlines alone (a calibrated title + body run)


class Classifier:
    """`Classifier.load(run).predict(articles)`; articles are dicts with title/body, strings, or a frame.

    Composition: the run's `Featurizer` turns articles into features, an `engine` turns features into
    logits (the fastest the run has unless `engine=` names one; `.engine.name` says which); where the run has a
    hybrid (RUN/hybrid/, `kornews hybrid`), its TF-IDF model and fusion turn those into the final probabilities;
    where it is calibrated (RUN/calibration.json, `kornews calibrate`), a temperature makes them honest; where it was
    adapted to another source's topic mix (RUN/adaptation.json, `kornews adapt`), a prior shift re-weights them."""

    def __init__(self, featurizer, engine, labels, batch_size=32, hybrid=None, calibration: Calibration | None = None,
                 prior: PriorShift | None = None):
        self.featurizer, self.engine, self.labels, self.batch_size = featurizer, engine, list(labels), batch_size
        self.hybrid, self.calibration, self.prior = hybrid, calibration, prior
        self.model_dir = None        # set by `load`: where explanations find the PyTorch weights
        self._fp32 = None            # the fp32 model explanations run, loaded on first use

    @classmethod
    def load(cls, path, engine="auto", threads=None, batch_size=32, hybrid=True, calibrated=True,
             prior=True, device="auto") -> "Classifier":
        """`path` is a run directory or its model/ directory; `threads`: this process's share of the cores
        (`runtime.threads_for(workers)` when several processes predict side by side); `device`: auto (a CUDA GPU
        where torch sees one, else the CPU), cpu, cuda or cuda:N, for torch engines; `hybrid=False` ignores
        a run's hybrid and predicts with the encoder alone; `calibrated=False` ignores its temperature;
        `prior=False` its prior shift."""
        run_dir, model_dir, config, spec = locate(path)
        clusterer = Clusterer.load(model_dir.parent / rundir.CLUSTERER) if spec.mode_row.clusters else None
        featurizer = Featurizer(spec, backbones.load_tokenizer(model_dir), clusterer)
        labels = LabelMap.from_dict({"id2label": config.id2label}).labels
        fusion = Hybrid.load(run_dir) if hybrid and run_dir is not None else None
        calibration = Calibration.load(run_dir) if calibrated and run_dir is not None else None
        shift = PriorShift.load(run_dir, labels) if prior and run_dir is not None else None
        clf = cls(featurizer, engines.load(run_dir, model_dir, engine, threads, device), labels, batch_size, fusion,
                  calibration, shift)
        clf.model_dir = model_dir
        return clf

    # what the featurizer and engine hold, under the names users of a classifier look for
    spec = property(lambda self: self.featurizer.spec)
    mode = property(lambda self: self.featurizer.spec.mode)
    tokenizer = property(lambda self: self.featurizer.tokenizer)
    cluster_token_ids = property(lambda self: self.featurizer.cluster_token_ids)
    model = property(lambda self: getattr(self.engine, "model", None))

    @property
    def columns(self) -> Columns:
        return self.spec.columns or Columns()

    def read(self, source, labeled=False, **options) -> articles.Reading:
        """Articles of any source (a file, "-", a frame, dicts or strings) as this run reads them: its mode, its
        columns first, then the reader's aliases."""
        return articles.read(source, mode=self.mode, columns=self.spec.columns, labeled=labeled, **options)

    def classify(self, source, progress=False) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities per article, cluster id per article in modes 4/5 else None), in input order."""
        scores = self.scores(source, progress)
        return scores.probs, scores.clusters

    def scores(self, source, progress=False) -> Scores:
        """Every part's probabilities of `source`'s articles. One row per input article: an article with no text
        for the mode is an error (files skip such rows when they are read: `read`)."""
        reading = self.read(source, quiet=True)
        if reading.skipped:
            kept = set(reading.frame["row"])
            first = next(r for r in range(1, reading.rows + 1) if r not in kept)
            fields = " or ".join(self.spec.mode_row.fields)
            raise KornewsError(f"article {first - 1}: no {fields} text for mode {self.mode}")
        df = self.featurizer.with_clusters(reading.frame)
        if df.empty:
            empty = np.zeros((0, len(self.labels)), dtype=np.float32)
            return Scores(empty, empty, empty, empty if self.hybrid else None)
        probs = []
        step = 1024  # featurize in slices so a huge file streams with bounded memory
        with tqdm(total=len(df), disable=not progress, desc="predict", unit=" articles", file=sys.stderr,
                  mininterval=0.5 if sys.stderr.isatty() else 10) as bar:
            for start in range(0, len(df), step):
                part = df.iloc[start:start + step]
                feats = self.featurizer(part)
                windows, done = len(feats), [0]

                def advance(n):  # windows done → whole articles on the bar
                    done[0] += n
                    bar.update(start + len(part) * done[0] // max(1, windows) - bar.n)
                logits = modeling.doc_logits_with(self.engine, feats, self.featurizer.pad_id, self.batch_size,
                                                   progress=advance)
                probs.append(_softmax(logits))
        clusters = df["cluster"].to_numpy() if "cluster" in df and self.spec.mode_row.clusters else None
        encoder = np.concatenate(probs)
        parts = self.hybrid.parts(encoder, texts(df, self.mode)) if self.hybrid else {"fused": encoder}
        raw = parts["fused"]
        headline = None
        if self.calibration and self.calibration.headline_temperature is not None:
            headline = np.array(headline_only(df, self.mode), dtype=bool)
        final = self.calibration.apply(raw, headline) if self.calibration else raw
        final = self.prior.apply(final) if self.prior else final
        return Scores(final, raw, encoder, parts.get("tfidf"), clusters, headline)

    def explain(self, source, k: int = 5) -> list[list[Word]]:
        """Per article, the `k` words that pushed the encoder's topic most (`explain.explain`), in input order."""
        import torch
        if not (isinstance(k, int) and 1 <= k <= 50):
            raise KornewsError(f"explain takes 1 to 50 words, got {k!r}")
        if self._fp32 is None:
            model = self.model
            fp32 = model is not None and next(model.parameters()).dtype == torch.float32
            if not fp32 and self.model_dir is None:
                raise KornewsError("explanations need the run's PyTorch model (load the classifier from a run)")
            self._fp32 = model if fp32 else modeling.load(self.model_dir, torch.float32)
        frame = self.featurizer.with_clusters(self.read(source, quiet=True).frame)
        return explain_words(self._fp32, self.featurizer, frame, k)

    def predict_proba(self, source, progress=False) -> np.ndarray:
        return self.classify(source, progress)[0]

    def predict(self, source) -> list[str]:
        labels = self.labels
        return [labels[i] for i in self.predict_proba(source).argmax(1)]


def predictions_frame(clf: Classifier, df: pd.DataFrame, progress=False, min_confidence=None,
                      explain: int | None = None) -> pd.DataFrame:
    """id, label (if known), pred, confidence and review (with a review threshold), cluster (modes 4/5),
    pred_encoder and pred_tfidf (hybrid runs), p_<topic>; `df`: articles as `articles.read` gives them.
    `min_confidence`: articles whose top probability is below it get review=True (their topic is kept); None takes
    the run's own threshold (chosen on validation by `kornews calibrate`), 0 asks for none. `explain`: an
    `explanation` column with that many words per article ("word (weight); ...")."""
    scores = clf.scores(df, progress=progress)
    probs = scores.probs
    labels = clf.labels
    out = pd.DataFrame({"id": df["id"].to_numpy(), "pred": [labels[i] for i in probs.argmax(1)]})
    threshold = review_threshold(clf, min_confidence)
    if threshold is not None:
        out["confidence"] = probs.max(1).round(6)
        out["review"] = probs.max(1) < threshold
    if explain:
        out["explanation"] = [as_text(words) for words in clf.explain(df, explain)]
    if "label" in df:
        out.insert(1, "label", df["label"].to_numpy())
    if scores.clusters is not None:
        out["cluster"] = scores.clusters
    if scores.headline is not None:  # which temperature each article got: the report undoes it
        out["headline"] = scores.headline
    if scores.tfidf is not None:  # what each part alone would say: the report compares them
        for name, part in (("encoder", scores.encoder), ("tfidf", scores.tfidf)):
            out[f"pred_{name}"] = [labels[i] for i in part.argmax(1)]
    for j, name in enumerate(labels):
        out[f"p_{name}"] = probs[:, j].round(6)
    return out


def review_threshold(clf: Classifier, min_confidence=None) -> float | None:
    """The review threshold in force: the one asked for, else the run's; 0 (or none anywhere) means none."""
    fitted = getattr(clf, "calibration", None)  # a stand-in classifier (tests, a custom one) may have none
    if min_confidence is None and fitted is not None:
        min_confidence = fitted.min_confidence
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise KornewsError(f"min_confidence must be in [0, 1], got {min_confidence}")
    return min_confidence or None


def predictions_text(frame: pd.DataFrame, fmt: str = "csv") -> str:
    """The predictions frame as CSV or JSONL text."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame.to_dict(orient="records"))
    return frame.to_csv(index=False)


def write_predictions(frame: pd.DataFrame, dest, fmt=None) -> None:
    """CSV or JSONL to a path (atomically) or to stdout when dest is '-'."""
    text = predictions_text(frame, fmt or ("jsonl" if str(dest).endswith((".jsonl", ".json")) else "csv"))
    if str(dest) == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(Path(dest), text)
