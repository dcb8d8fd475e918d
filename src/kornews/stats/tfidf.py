"""TF-IDF and fusion, the hybrid's parts: beside a run's fine-tuned encoder, a character n-gram TF-IDF model trained
on the same training part, and a fusion of the two fitted on the validation split only (`commands.hybrid` fits them).
Stored without pickle:

    RUN/hybrid/tfidf.json           vectorizer settings and vocabulary (n-gram → column)
    RUN/hybrid/tfidf.safetensors    idf, coef, intercept (float64: reloads bit-identical)
    RUN/hybrid/fusion.json          the fusion's kind, its fitted parameters, what it was fitted on

Fusions (`FUSIONS`), each fitted on validation probabilities, never on test:
    average   w · p_encoder + (1 − w) · p_tfidf, w by validation log-loss
    stack     multinomial logistic regression on both models' log-probabilities
    gate      p_tfidf where TF-IDF's top probability reaches t, else p_encoder; t by validation accuracy
"""
import json
from pathlib import Path

import numpy as np

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_dir, atomic_write_text
from kornews.data.modes import mode_inputs

DIR = "hybrid"
FUSIONS = ("average", "stack", "gate")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Tfidf:
    """TF-IDF over character 1–3-grams (within words: Korean particles stay glued to their nouns) + multinomial
    logistic regression, for probabilities the fusion can weigh. Labels are class ids 0..n-1."""

    def __init__(self, ngrams=(1, 3), min_df=2, C=10.0):
        self.ngrams, self.min_df, self.C = tuple(ngrams), min_df, C

    def _vectorizer(self, vocabulary=None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        return TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngrams, sublinear_tf=True, min_df=self.min_df,
                               vocabulary=vocabulary, dtype=np.float64)

    def fit(self, texts: list[str], y, n_classes: int) -> "Tfidf":
        from sklearn.linear_model import LogisticRegression
        y = np.asarray(y)
        if len(set(y.tolist())) != n_classes:
            raise KornewsError(f"TF-IDF: the training part holds {len(set(y.tolist()))} of the {n_classes} labels")
        vec = self._vectorizer()
        X = vec.fit_transform(texts)
        lr = LogisticRegression(C=self.C, max_iter=3000).fit(X, y)
        self.vocabulary_ = {term: int(i) for term, i in vec.vocabulary_.items()}
        self.idf_ = vec.idf_.astype(np.float64)
        order = np.argsort(lr.classes_)  # rows in class-id order
        self.coef_, self.intercept_ = lr.coef_[order].astype(np.float64), lr.intercept_[order].astype(np.float64)
        self.vectorizer_ = vec
        return self

    def log_proba(self, texts: list[str]) -> np.ndarray:
        if not hasattr(self, "vectorizer_"):
            self.vectorizer_ = self._vectorizer(self.vocabulary_)
            self.vectorizer_.idf_ = self.idf_
        X = self.vectorizer_.transform(texts)
        return _log_softmax(np.asarray(X @ self.coef_.T) + self.intercept_)

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file
        settings = {"ngrams": list(self.ngrams), "min_df": self.min_df, "C": self.C, "vocabulary": self.vocabulary_}
        atomic_write_text(folder / "tfidf.json", json.dumps(settings, ensure_ascii=False))
        save_file({"idf": self.idf_, "coef": self.coef_, "intercept": self.intercept_},
                  str(folder / "tfidf.safetensors"))

    @classmethod
    def load(cls, folder: Path) -> "Tfidf":
        from safetensors.numpy import load_file
        settings = json.loads((folder / "tfidf.json").read_text(encoding="utf-8"))
        model = cls(settings["ngrams"], settings["min_df"], settings["C"])
        model.vocabulary_ = settings["vocabulary"]
        arrays = load_file(str(folder / "tfidf.safetensors"))
        model.idf_, model.coef_, model.intercept_ = arrays["idf"], arrays["coef"], arrays["intercept"]
        return model


# --- fusions: pure functions of the two models' log-probabilities ----------------------------------------

def _nll(logp: np.ndarray, y: np.ndarray) -> float:
    return float(-logp[np.arange(len(y)), y].mean())


def check_fusion(kind) -> str:
    """The one check of a fusion's name (config, `kornews hybrid`, a saved hybrid)."""
    if kind not in FUSIONS:
        raise KornewsError(f"fusion {kind!r}: choose {', '.join(FUSIONS)}")
    return kind


def fit_fusion(kind: str, enc: np.ndarray, tfidf: np.ndarray, y: np.ndarray) -> dict:
    """The fusion's parameters from validation log-probabilities of both models and the true class ids."""
    check_fusion(kind)
    y = np.asarray(y)
    if kind == "average":
        # ties go to the larger encoder weight: it is the model that holds up on other sources
        scores = [(_nll(np.log(w * np.exp(enc) + (1 - w) * np.exp(tfidf) + 1e-12), y), -w)
                  for w in np.round(np.linspace(0, 1, 21), 2)]
        return {"kind": kind, "w_encoder": float(-min(scores)[1])}
    if kind == "stack":
        from sklearn.linear_model import LogisticRegression
        lr = LogisticRegression(C=1.0, max_iter=3000).fit(np.hstack([enc, tfidf]), y)
        coef = np.zeros((enc.shape[1], lr.coef_.shape[1]))
        intercept = np.full(enc.shape[1], -1e9)  # a class absent from validation is never predicted
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
        return {"kind": kind, "coef": coef.tolist(), "intercept": intercept.tolist()}
    pred_enc, pred_tf, top_tf = enc.argmax(1), tfidf.argmax(1), np.exp(tfidf.max(1))
    # ties go to the higher threshold: TF-IDF only where it is surest
    scores = [(float(np.mean(np.where(top_tf >= t, pred_tf, pred_enc) == y)), t)
              for t in np.round(np.arange(0.3, 1.0001, 0.05), 2)]
    return {"kind": kind, "threshold": float(max(scores)[1])}


def fuse(params: dict, enc: np.ndarray, tfidf: np.ndarray) -> np.ndarray:
    """Fused probabilities from both models' log-probabilities."""
    kind = check_fusion(params["kind"])
    if kind == "average":
        w = params["w_encoder"]
        return w * np.exp(enc) + (1 - w) * np.exp(tfidf)
    if kind == "stack":
        z = np.hstack([enc, tfidf]) @ np.asarray(params["coef"]).T + np.asarray(params["intercept"])
        return np.exp(_log_softmax(z))
    if kind == "gate":
        take = np.exp(tfidf.max(1, keepdims=True)) >= params["threshold"]
        return np.where(take, np.exp(tfidf), np.exp(enc))


class Hybrid:
    """What a Classifier needs of RUN/hybrid/: the TF-IDF model and the fusion's parameters."""

    def __init__(self, tfidf: Tfidf, fusion: dict):
        self.tfidf, self.fusion = tfidf, fusion

    kind = property(lambda self: self.fusion["kind"])

    def parts(self, enc_probs: np.ndarray, texts: list[str]) -> dict:
        """{"encoder", "tfidf", "fused"} probabilities for articles whose encoder probabilities are given."""
        enc = np.log(np.clip(enc_probs, 1e-12, None))
        tf = self.tfidf.log_proba(texts)
        return {"encoder": enc_probs, "tfidf": np.exp(tf), "fused": fuse(self.fusion, enc, tf)}

    def save(self, run: Path) -> None:
        with atomic_dir(Path(run) / DIR) as tmp:
            self.tfidf.save(tmp)
            (tmp / "fusion.json").write_text(json.dumps(self.fusion, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, run: Path) -> "Hybrid | None":
        folder = Path(run) / DIR
        if not (folder / "fusion.json").is_file():
            return None
        try:
            return cls(Tfidf.load(folder), json.loads((folder / "fusion.json").read_text(encoding="utf-8")))
        except Exception as e:  # safetensors raises its own untyped error for a damaged file
            if isinstance(e, KornewsError):
                raise
            raise KornewsError(f"{folder}: damaged hybrid ({e}); rebuild it with: kornews hybrid {run}") from None


def texts(df, mode: int) -> list[str]:
    """The text TF-IDF reads for an article: the mode's fields, as `modes.mode_inputs` gives them, title and
    body joined by a newline."""
    inputs = mode_inputs(df, mode)
    pairs = inputs["text_pair"] or [None] * len(inputs["text"])
    return [a if not b else f"{a}\n{b}" for a, b in zip(inputs["text"], pairs)]


def tfidf_svm(ngrams=(1, 3), C=1.0):
    """The bar a fine-tuned encoder must clear: TF-IDF character n-grams + a linear SVM (scikit-learn pipeline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC
    # character n-grams sidestep Korean morphology (particles glued to nouns) without a tokenizer
    return make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, sublinear_tf=True, min_df=2),
                         LinearSVC(C=C))
