"""Clusters: embedding cache, k-means clusterer round trip, tables and scores, the `cluster` run, errors.

Embeds 40 knews8 articles (5 per topic) with the real USE embedder once per module, into a temporary
KORNEWS_HOME so the cache starts cold.
"""
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from kornews import articles, clusters
from kornews.tasks.clustering import cluster
from kornews.errors import KornewsError


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("kornews_home")
        mp.setenv("KORNEWS_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def sample():
    return articles.read("knews8", mode=3).frame.groupby("label").head(5).reset_index(drop=True)


@pytest.fixture(scope="module")
def texts(sample):
    return clusters.article_text(sample)


@pytest.fixture
def counted(monkeypatch):
    """Wrap the engines: record the texts each engine call gets."""
    calls = []
    real = clusters._engine

    def engine(name):
        encode = real(name)
        return lambda batch: (calls.append(list(batch)), encode(batch))[1]
    monkeypatch.setattr(clusters, "_engine", engine)
    return calls


@pytest.fixture(scope="module")
def vectors(home, texts):
    return clusters.embed(texts, "use")


def test_article_text_is_title_then_body_cut():
    df = pd.DataFrame({"title": ["제목", "", "t"], "body": ["본문", "몸통만", "x" * 5000]})
    assert clusters.article_text(df) == ["제목\n본문", "몸통만", ("t\n" + "x" * 5000)[:2000]]
    assert clusters.article_text(df, max_chars=3) == ["제목\n", "몸통만", "t\nx"]


def test_embed_unit_rows_and_cache_skips_the_engine(texts, counted, monkeypatch, tmp_path):
    monkeypatch.setenv("KORNEWS_HOME", str(tmp_path))  # a cold cache whatever ran before
    first = clusters.embed(texts, "use")
    assert first.shape == (40, 512) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert sorted(t for call in counted for t in call) == sorted(texts)
    assert all(len(call) <= clusters.BATCH for call in counted)

    counted.clear()
    again = clusters.embed(texts[::-1] + texts[:3], "use")
    assert counted == []
    np.testing.assert_array_equal(again, np.concatenate([first[::-1], first[:3]]))

    new = clusters.embed(texts[:2] + ["완전히 새로운 기사 제목"], "use")
    assert counted == [["완전히 새로운 기사 제목"]]
    np.testing.assert_array_equal(new[:2], first[:2])


def test_embed_without_cache_calls_the_engine_and_writes_nothing(home, texts, vectors, counted):
    shards = sorted((home / "embeddings" / "use").glob("*.npz"))
    out = clusters.embed(texts[:4], "use", use_cache=False)
    assert counted == [sorted(texts[:4], key=len)]
    assert sorted((home / "embeddings" / "use").glob("*.npz")) == shards
    np.testing.assert_allclose(out, vectors[:4], atol=1e-5)


def test_unreadable_cache_shard_is_ignored(home, texts, vectors, counted, caplog):
    (home / "embeddings" / "use" / "0000broken.npz").write_bytes(b"not a zip")
    np.testing.assert_array_equal(clusters.embed(texts[:5], "use"), vectors[:5])
    assert counted == [] and "0000broken.npz: unreadable embedding cache shard" in caplog.text


def test_fit_predict_save_load_round_trip(home, texts, vectors, tmp_path):
    clusterer = clusters.Clusterer(k=8, embedder="use", seed=42).fit(texts)
    assert clusterer.centroids_.shape == (8, 512) and clusterer.embedder == "use"
    assigned = clusterer.predict(texts)
    assert assigned.dtype.kind == "i" and set(assigned) <= set(range(8)) and len(set(assigned)) > 1
    # Nearest centroid by cosine, computed independently.
    sims = vectors @ clusterer.centroids_.T / np.linalg.norm(clusterer.centroids_, axis=1)
    np.testing.assert_array_equal(assigned, sims.argmax(axis=1))

    saved = clusterer.save(tmp_path / "clusterer")
    assert json.loads((saved / "clusterer.json").read_text()) == {"k": 8, "embedder": "use", "seed": 42, "dim": 512}
    loaded = clusters.Clusterer.load(saved)
    assert (loaded.k, loaded.embedder, loaded.seed) == (8, "use", 42)
    np.testing.assert_array_equal(loaded.centroids_, clusterer.centroids_)
    np.testing.assert_array_equal(loaded.predict(texts), assigned)


def test_fit_is_deterministic_for_a_seed(vectors):
    a = clusters.Clusterer(k=6, seed=7).fit_vectors(vectors)
    b = clusters.Clusterer(k=6, seed=7).fit_vectors(vectors)
    np.testing.assert_array_equal(a.centroids_, b.centroids_)
    np.testing.assert_array_equal(a.predict_vectors(vectors), b.predict_vectors(vectors))


def test_table_counts_every_article(sample, vectors):
    assigned = clusters.Clusterer(k=8).fit_vectors(vectors).predict_vectors(vectors)
    table = clusters.cluster_table(assigned, sample["label"])
    assert table.to_numpy().sum() == len(sample) == 40
    assert list(table.columns) == sorted(sample["label"].unique())
    assert list(table.index) == sorted(set(assigned))
    assert (table.sum(axis=0) == 5).all()


def test_scores_on_hand_made_examples():
    perfect = clusters.scores([3, 3, 0, 0, 1], ["a", "a", "b", "b", "c"])
    assert perfect == pytest.approx({"purity": 1.0, "nmi": 1.0, "ari": 1.0})
    independent = clusters.scores([0, 1, 0, 1], ["a", "a", "b", "b"])
    assert independent == pytest.approx({"purity": 0.5, "nmi": 0.0, "ari": -0.5}, abs=1e-12)
    # Clusters {a, a, b} and {b}: purity (2 + 1) / 4; ARI's index equals its expectation; NMI by hand.
    ln = math.log
    mi = 0.5 * ln(0.5 / (0.5 * 0.75)) + 0.25 * ln(0.25 / (0.5 * 0.75)) + 0.25 * ln(0.25 / (0.5 * 0.25))
    h_labels, h_clusters = ln(2), -(0.75 * ln(0.75) + 0.25 * ln(0.25))
    lopsided = clusters.scores([0, 0, 0, 1], ["a", "a", "b", "b"])
    assert lopsided == pytest.approx({"purity": 0.75, "nmi": mi / ((h_labels + h_clusters) / 2), "ari": 0.0},
                                     abs=1e-12)


def test_plot_table_writes_a_png(tmp_path):
    table = clusters.cluster_table([0, 0, 1, 2], ["정치", "경제", "경제", "사회"])
    clusters.plot_table(table, tmp_path / "h" / "heatmap.png", "title")
    assert (tmp_path / "h" / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cluster_run_writes_tables_clusterers_and_summary(home, sample, vectors, tmp_path, counted):
    columns = {"id": sample["id"], "title": sample["title"], "cleanBody": sample["body"],
               "category": sample["label"]}
    pd.DataFrame(columns).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(columns).iloc[::5].to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "out"
    summary = cluster(tmp_path / "train.csv", ks=(2, 8), out_dir=out, test_source=tmp_path / "test.csv")
    assert counted == []  # every text was embedded (and cached) by the fixture
    assert summary["articles"] == {"train": 40, "test": 8} and list(summary["k"]) == ["2", "8"]
    assert json.loads((out / "summary.json").read_text()) == summary
    for k in (2, 8):
        folder = out / f"k{k}"
        table = pd.read_csv(folder / "table.csv", index_col="cluster")
        assert table.to_numpy().sum() == 40 and len(table) == k
        assert pd.read_csv(folder / "test_table.csv", index_col="cluster").to_numpy().sum() == 8
        assert (folder / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
        clusterer = clusters.Clusterer.load(folder / "clusterer")
        assigned = clusterer.predict_vectors(vectors)
        assert summary["k"][str(k)]["train"] == pytest.approx(clusters.scores(assigned, sample["label"]))
        assert summary["k"][str(k)]["test"] == pytest.approx(
            clusters.scores(assigned[::5], sample["label"][::5]))
    md = (out / "summary.md").read_text()
    assert "| k | train purity | train NMI | train ARI | test purity | test NMI | test ARI |" in md
    assert f"| 8 | {summary['k']['8']['train']['purity']:.4f} |" in md


# --- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 0, -3, 2.5, "8", True])
def test_bad_k(k):
    with pytest.raises(KornewsError, match=r"k must be a whole number of at least 2, got"):
        clusters.Clusterer(k=k)


def test_more_clusters_than_articles(vectors, tmp_path, counted):
    with pytest.raises(KornewsError, match=r"cannot make 41 clusters from 40 articles: use k of at most 40"):
        clusters.Clusterer(k=41).fit_vectors(vectors)
    with pytest.raises(KornewsError, match=r"cannot make 2000 clusters from the 1280 articles of knews8"):
        cluster("knews8", ks=(8, 2000), out_dir=tmp_path)
    assert counted == []  # refused before embedding anything


def test_unknown_embedder_without_sentence_transformers(monkeypatch, home):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails even where it is installed
    with pytest.raises(KornewsError, match=r"embedder 'org/some-model' needs `pip install sentence-transformers` "
                                           r"and the Hub \(built-in embedders: use, me5-small\)"):
        clusters.embed(["기사"], "org/some-model")


def test_unfitted_and_mismatched_clusterer(vectors, tmp_path):
    with pytest.raises(KornewsError, match="not fitted"):
        clusters.Clusterer(k=4).predict_vectors(vectors)
    with pytest.raises(KornewsError, match="cannot save an unfitted clusterer"):
        clusters.Clusterer(k=4).save(tmp_path / "c")
    fitted = clusters.Clusterer(k=4).fit_vectors(vectors)
    with pytest.raises(KornewsError, match="embeddings have 384 dimensions, the centroids 512"):
        fitted.predict_vectors(np.ones((3, 384), dtype=np.float32))
    with pytest.raises(KornewsError, match="no texts to embed"):
        clusters.embed([], "use")


def test_corrupt_clusterer_dirs(vectors, tmp_path):
    saved = clusters.Clusterer(k=4).fit_vectors(vectors).save(tmp_path / "good")
    with pytest.raises(KornewsError, match=r"missing/clusterer\.json: no such file \(not a saved clusterer\)"):
        clusters.Clusterer.load(tmp_path / "missing")

    config = saved / "clusterer.json"
    good_config = config.read_text()
    for bad in ("{not json", '{"k": 4}', '{"k": 1, "embedder": "use", "dim": 512}', "[1, 2]"):
        config.write_text(bad)
        with pytest.raises(KornewsError, match=r"good/clusterer\.json: corrupt clusterer file"):
            clusters.Clusterer.load(saved)
    config.write_text(good_config)

    centroids = saved / "centroids.npy"
    np.save(centroids, np.ones((3, 512), dtype=np.float32))
    with pytest.raises(KornewsError, match=r"centroids\.npy: corrupt centroids file \(shape \(3, 512\), "
                                           r"clusterer\.json says 4 x 512\)"):
        clusters.Clusterer.load(saved)
    centroids.write_bytes(b"garbage")
    with pytest.raises(KornewsError, match=r"centroids\.npy: corrupt centroids file"):
        clusters.Clusterer.load(saved)
    centroids.unlink()
    with pytest.raises(KornewsError, match=r"centroids\.npy: no such file \(the clusterer is incomplete\)"):
        clusters.Clusterer.load(saved)
