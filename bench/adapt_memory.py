"""Would an adapted run gain from a memory of the articles it was adapted on? An upper bound, not a feature.

    python bench/adapt_memory.py --source runs/default --adapted runs/adapted-ynat [--section adapt-memory]

`--adapted` is the source run adapted (inductive case) on the YNAT train headlines without labels, as
`bench/adapt.py` or `kornews adapt RUN ynat-train-unlabeled.csv` leaves it. Each YNAT dev headline looks up its k
nearest YNAT train headlines (me5-small sentence embeddings, no labels) and mixes their topic distribution
(the spread probabilities adaptation trained from, or the adapted run's own) into the run's probabilities with
weight a. k and a are swept on YNAT dev itself, the scored set, so the best row is an optimistic bound of what such
a memory could add, not a result a user would get without labels to choose them.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TO_YNAT, machine, mapped_scores, publish, table  # noqa: E402

KS, WEIGHTS = (10, 30, 50), (0.3, 0.5, 0.7, 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="the run as trained")
    ap.add_argument("--adapted", required=True, help="that run adapted on YNAT train headlines (inductive)")
    ap.add_argument("--section", default="adapt-memory")
    args = ap.parse_args()
    started, where = time.time(), machine()
    from kornews import Classifier, articles, clusters
    from kornews.tasks.adapting import NEIGHBOUR_EMBEDDER, SPREAD_PROBS
    dev = articles.read("ynat:dev", mode=2, quiet=True).frame.assign(body="")
    train = articles.read("ynat:train", mode=2, quiet=True).frame.assign(body="")
    source, adapted = Classifier.load(args.source, prior=False), Classifier.load(args.adapted, prior=False)
    labels, truth = source.labels, list(dev["label"])
    probs = {"the run as trained": source.predict_proba(dev), "the adapted run": adapted.predict_proba(dev)}
    pools = {"spread probabilities": np.load(Path(args.adapted) / "adapt" / SPREAD_PROBS),
             "the adapted run's": adapted.predict_proba(train)}
    near = nearest(clusters.embed(clusters.article_text(dev), NEIGHBOUR_EMBEDDER),
                   clusters.embed(clusters.article_text(train), NEIGHBOUR_EMBEDDER), max(KS))
    rows = [[name, "-", "-", "0", *scores(p, labels, truth)] for name, p in probs.items()]
    best = []
    for pool_name, pool in pools.items():
        for k in KS:
            memory = pool[near[:, :k]].mean(axis=1)
            for name, p in probs.items():
                for a in WEIGHTS:
                    best.append([name, pool_name, str(k), str(a), *scores((1 - a) * p + a * memory, labels, truth)])
    rows += sorted(best, key=lambda r: r[4], reverse=True)[:8]
    header = ["probabilities", "memory (YNAT train neighbours)", "k", "a", "YNAT dev accuracy", "YNAT dev macro-F1"]
    text = "\n".join([
        "### Adapting: a memory of the adaptation articles (an optimistic bound)", "",
        f"`python bench/adapt_memory.py {' '.join(sys.argv[1:])}` — {where}, {time.strftime('%Y-%m-%d')}; "
        f"{(time.time() - started) / 60:.0f} minutes. The two rows without a memory, then the best 8 of "
        f"{len(best)} mixes (k in {KS}, a in {WEIGHTS}), chosen on YNAT dev itself.", "",
        table(header, rows)])
    publish(args.section, text)


def nearest(queries: np.ndarray, pool: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """(n, k) indices of each query's k most similar pool rows (unit rows: cosine)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        sims = queries[start:start + chunk] @ pool.T
        out[start:start + chunk] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return out


def scores(probs, labels, truth) -> list[str]:
    acc, f1 = mapped_scores(probs, labels, truth, TO_YNAT)
    return [f"{acc:.4f}", f"{f1 * 100:.2f}"]


if __name__ == "__main__":
    main()
