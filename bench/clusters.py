"""knews8 clusters: how well k-means over each sentence embedder's vectors recovers the 8 topics.

    python bench/clusters.py [--embedders use,me5-small] [--ks 8,16,32,64]

For each embedder: embeds train (1,280) and test (320) with the cache bypassed, so the throughput is a cold
one (the model load is timed apart); then per k fits a Clusterer on train and scores purity, NMI and ARI on
train and on test (assigned with the train centroids). Prints the tables and writes them into
docs/benchmarks.md with the exact command.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py; bench scripts are not a package
from common import machine, publish, table  # noqa: E402

from kornews.data import articles
from kornews.model import embedding


def run(embedder: str, ks: list[int], train, test) -> tuple[list, list]:
    texts = {"train": embedding.article_text(train), "test": embedding.article_text(test)}
    start = time.perf_counter()
    embedding.embed(["모델 적재"], embedder, use_cache=False)
    load = time.perf_counter() - start
    start = time.perf_counter()
    vectors = {split: embedding.embed(t, embedder, progress=True, use_cache=False) for split, t in texts.items()}
    secs = time.perf_counter() - start
    n = sum(len(set(t)) for t in texts.values())  # embed skips repeated texts (test has a few duplicates)
    speed = [embedder, vectors["train"].shape[1], f"{load:.1f}", n, f"{secs:.0f}", f"{n / secs:.1f}"]
    rows = []
    for k in ks:
        start = time.perf_counter()
        clusterer = embedding.Clusterer(k, embedder).fit_vectors(vectors["train"])
        fit = time.perf_counter() - start
        got = {split: embedding.scores(clusterer.predict_vectors(vectors[split]), df["label"])
               for split, df in (("train", train), ("test", test))}
        rows.append([embedder, k] + [f"{got[s][m]:.4f}" for s in ("train", "test") for m in ("purity", "nmi", "ari")]
                    + [f"{fit:.1f}"])
    return speed, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedders", default="use,me5-small")
    ap.add_argument("--ks", default="8,16,32,64")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    train, test = articles.read("knews8", mode=3).frame, articles.read("knews8:test", mode=3).frame
    speeds, rows = [], []
    for embedder in args.embedders.split(","):
        speed, scored = run(embedder, ks, train, test)
        speeds.append(speed)
        rows += scored
        print(table(SPEED, [speed]), table(SCORES, scored), sep="\n\n", flush=True)
    text = "\n".join([
        "## knews8 clusters (k-means over sentence embeddings; fit on train 1,280, scored on train and test 320)", "",
        f"Command: `{' '.join(['python bench/clusters.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}", "",
        table(SCORES, rows), "",
        table(SPEED, speeds), "",
        "Each article is embedded as `kornews.model.embedding.article_text`: title, newline, body, cut to 2,000"
        " characters (me5-small then reads its first 512 tokens). k-means: scikit-learn, n_init=10, seed 42, on unit"
        " vectors; articles go to the nearest centroid by cosine, test articles with the train centroids."
        " Purity: share of articles in their cluster's majority topic; NMI and ARI against the 8 topics"
        " (scikit-learn). Throughput: distinct texts of train and test embedded with the cache bypassed, in"
        " batches of 32; `load s` is the model load (the first call), not counted in the rate."])
    publish("clusters", text)


SCORES = ["embedder", "k", "train purity", "train NMI", "train ARI", "test purity", "test NMI", "test ARI", "fit s"]
SPEED = ["embedder", "dim", "load s", "texts", "embed s", "texts/s"]

if __name__ == "__main__":
    main()
