"""`kornews choose RUN POOL -n N -o CHOSEN.csv`: the N articles of a pool of one's own unlabelled news whose labels
would teach the run most, written as a spreadsheet to label (an empty `label` column beside the run's suggestion).

The pool is read unlabelled (a label column there is never read). The run's calibrated probabilities of the pool
and the pool's sentence embeddings are cached under $KORNEWS_HOME/choose and the embedder's cache, so choosing again
from the same pool (another strategy, another N, or after some articles were labelled: `--labeled FILE`, whose ids
are never chosen again) pays for neither a second time.
"""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.core import files
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text, cached_array
from kornews.data import articles
from kornews.inference.classifier import Classifier, locate
from kornews.model import embedding
from kornews.stats import active

EMBEDDER = "me5-small"  # the sentence embedding `adapt` spreads over: topic-blind, so clusters are stories
# a share of each round drawn uniformly from the pool: the chosen articles are the run's hardest, so only these say
# how often it is right on the news as a whole (`learn` holds them out to choose its epoch, calibrate and estimate)
CHECK_SHARE = 0.2


def run_key(run) -> str:
    """What identifies a run's probabilities: its model's files and its calibration, prior and hybrid (name, size,
    time), so a recalibrated or retrained run is scored again."""
    run_dir, model_dir = locate(run)[:2]
    paths = [model_dir] + ([run_dir / n for n in ("calibration.json", "adaptation.json", "hybrid")] if run_dir else [])
    parts = [str(Path(model_dir).resolve())]
    for path in paths:
        for f in sorted(path.rglob("*")) if path.is_dir() else [path] if path.is_file() else []:
            if f.is_file():
                st = f.stat()
                parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def labelled_ids(path) -> set[str]:
    """The ids of articles already labelled (a labels file of earlier rounds: an `id` column)."""
    reading = articles.read(path, mode=2, labeled=False, quiet=True)
    if "id" not in reading.columns:
        raise KornewsError(f"{path}: no id column to tell which articles are labelled")
    return set(reading.frame["id"])


def read_pool(run, pool, encoding=None, embedder: str | None = None, progress: bool = True):
    """(the run's Classifier, the pool's articles read unlabelled — every one with an id —, the run's calibrated
    probabilities of them, their sentence embeddings), the probabilities and embeddings cached: what `choose` and
    `learn --unlabeled` read a pool as."""
    clf = Classifier.load(run)
    target = clf.read(pool, labeled=False, encoding=encoding).frame
    if target.empty:
        raise KornewsError(f"{pool}: no articles to choose from")
    if (target["id"] == "").any():  # an id names each answer in the labels file: rows without one get their row
        target = target.assign(id=[i or f"row-{r}" for i, r in zip(target["id"], target["row"])])
    texts = embedding.article_text(target)
    pool_key = hashlib.sha1("\x1e".join(texts).encode()).hexdigest()[:16]
    probs = cached_array(files.home() / "choose" / f"probs-{run_key(run)}-{pool_key}.npy",
                         lambda: clf.predict_proba(target, progress=progress))
    return clf, target, probs, embedding.embed(texts, embedder or EMBEDDER, progress=progress)


def choose_articles(run, pool, out, n: int = 100, strategy: str = "default", seed: int = 0, labeled=None,
                    encoding=None, embedder: str | None = None, checks: float = CHECK_SHARE, progress: bool = True,
                    log=print) -> pd.DataFrame:
    """Write the chosen articles of `pool` to `out` (CSV: id, title, body, suggested, confidence, pick, label
    empty) and return them, best first but for the `checks` share drawn at random (pick "check"), spread among them."""
    active.check_strategy(strategy)
    if n < 1:
        raise KornewsError(f"n must be at least 1, got {n}")
    if not 0 <= checks < 1:
        raise KornewsError(f"checks must be in [0, 1), got {checks}")
    clf, target, probs, vectors = read_pool(run, pool, encoding, embedder, progress)
    done = labelled_ids(labeled) if labeled else set()
    labelled = [i for i, x in enumerate(target["id"]) if x in done]
    k = round(n * checks)
    check = active.choose(k, probs, vectors, "random", seed + 1, labelled) if k else np.zeros(0, dtype=np.int64)
    best = active.choose(n - k, probs, vectors, strategy, seed, labelled + check.tolist()) if n > k else check[:0]
    picked = np.concatenate([best, check])
    # the checks spread evenly among the chosen: the editor cannot tell them apart, nor tire on them alone
    order = np.argsort(np.concatenate([np.arange(len(best)), (np.arange(len(check)) + 0.5) * len(best)
                                       / max(1, len(check))]), kind="stable")
    picked, is_check = picked[order], np.r_[np.zeros(len(best), bool), np.ones(len(check), bool)][order]
    chosen = target.iloc[picked]
    table = pd.DataFrame({"id": chosen["id"].to_numpy(), "title": chosen["title"].to_numpy(),
                          "body": chosen["body"].to_numpy(),
                          "suggested": [clf.labels[k] for k in probs[picked].argmax(1)],
                          "confidence": probs[picked].max(1).round(4),
                          "pick": np.where(is_check, "check", strategy), "label": ""})
    atomic_write_text(Path(out), table.to_csv(index=False))
    log(f"choose: {len(table)} of {len(target)} articles ({len(done & set(target['id']))} already labelled) by "
        f"{strategy}, {len(check)} of them at random to check the run, seed {seed}: {out}")
    return table
