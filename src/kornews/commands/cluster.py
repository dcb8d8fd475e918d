"""`kornews cluster`: fit a clusterer per k on one embedding pass over a source; tables, heatmaps and scores."""
import json
from pathlib import Path

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.data import articles
from kornews.model.embedding import (
    Clusterer,
    article_text,
    cluster_table,
    embed,
    plot_table,
    scores,
)


def cluster(source, ks=(8, 16, 32, 64), embedder: str = "use", out_dir="clusters", test_source=None,
            seed: int = 42, progress: bool = False) -> dict:
    """Fit a clusterer per k on `source`'s articles; write tables, heatmaps, clusterers and a summary.

    out_dir/k{K}/table.csv, heatmap.png, clusterer/ (and test_table.csv with a test source, whose articles
    are assigned with the train-fitted centroids); out_dir/summary.json and summary.md. Returns the summary.
    """
    ks = [Clusterer(k).k for k in ks]  # validates each k
    if not ks:
        raise KornewsError("no cluster counts given")
    train = articles.read(source, mode=3).frame
    if max(ks) > len(train):
        raise KornewsError(f"cannot make {max(ks)} clusters from the {len(train)} articles of {source}: "
                           f"use k of at most {len(train)}")
    splits = {"train": (train, embed(article_text(train), embedder, progress=progress))}
    if test_source is not None:
        test = articles.read(test_source, mode=3).frame
        splits["test"] = (test, embed(article_text(test), embedder, progress=progress))
    out_dir = Path(out_dir)
    summary = {"source": str(source), "test_source": None if test_source is None else str(test_source),
               "embedder": embedder, "seed": seed, "articles": {s: len(df) for s, (df, _) in splits.items()},
               "k": {}}
    for k in ks:
        clusterer = Clusterer(k, embedder, seed).fit_vectors(splits["train"][1])
        folder = out_dir / f"k{k}"
        clusterer.save(folder / "clusterer")
        summary["k"][str(k)] = {}
        for split, (df, vectors) in splits.items():
            assigned = clusterer.predict_vectors(vectors)
            table = cluster_table(assigned, df["label"])
            atomic_write_text(folder / ("table.csv" if split == "train" else f"{split}_table.csv"),
                                    table.to_csv())
            if split == "train":
                plot_table(table, folder / "heatmap.png", f"{source}: {k} clusters ({embedder})")
            summary["k"][str(k)][split] = scores(assigned, df["label"])
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary))
    return summary


def summary_markdown(summary: dict) -> str:
    splits = list(summary["articles"])
    header = ["k"] + [f"{s} {m}" for s in splits for m in ("purity", "NMI", "ARI")]
    lines = [f"# Clusters of {summary['source']} ({summary['embedder']})", "",
             "Articles: " + ", ".join(f"{s} {n}" for s, n in summary["articles"].items()) +
             (f" (test: {summary['test_source']}, assigned with the train centroids)" if len(splits) > 1 else ""),
             "", "| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for k, by_split in summary["k"].items():
        cells = [f"{by_split[s][m]:.4f}" for s in splits for m in ("purity", "nmi", "ari")]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
