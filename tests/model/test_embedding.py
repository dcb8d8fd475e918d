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

from kornews.core.errors import KornewsError
from kornews.model import embedding


def test_article_text_is_title_then_body_cut():
    df = pd.DataFrame({"title": ["제목", "", "t"], "body": ["본문", "몸통만", "x" * 5000]})
    assert embedding.article_text(df) == ["제목\n본문", "몸통만", ("t\n" + "x" * 5000)[:2000]]
    assert embedding.article_text(df, max_chars=3) == ["제목\n", "몸통만", "t\nx"]


def test_embed_unit_rows_and_cache_skips_the_engine(cluster_texts, embed_calls, monkeypatch, tmp_path):
    monkeypatch.setenv("KORNEWS_HOME", str(tmp_path))  # a cold cache whatever ran before
    first = embedding.embed(cluster_texts, "use")
    assert first.shape == (40, 512) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert sorted(t for call in embed_calls for t in call) == sorted(cluster_texts)
    assert all(len(call) <= embedding.BATCH for call in embed_calls)

    embed_calls.clear()
    again = embedding.embed(cluster_texts[::-1] + cluster_texts[:3], "use")
    assert embed_calls == []
    np.testing.assert_array_equal(again, np.concatenate([first[::-1], first[:3]]))

    new = embedding.embed(cluster_texts[:2] + ["완전히 새로운 기사 제목"], "use")
    assert embed_calls == [["완전히 새로운 기사 제목"]]
    np.testing.assert_array_equal(new[:2], first[:2])


def test_embed_without_cache_calls_the_engine_and_writes_nothing(cluster_home, cluster_texts, cluster_vectors,
                                                                 embed_calls):
    shards = sorted((cluster_home / "embeddings" / "use").glob("*.npz"))
    out = embedding.embed(cluster_texts[:4], "use", use_cache=False)
    assert embed_calls == [sorted(cluster_texts[:4], key=len)]
    assert sorted((cluster_home / "embeddings" / "use").glob("*.npz")) == shards
    np.testing.assert_allclose(out, cluster_vectors[:4], atol=1e-5)


def test_unreadable_cache_shard_is_ignored(cluster_home, cluster_texts, cluster_vectors, embed_calls, caplog):
    (cluster_home / "embeddings" / "use" / "0000broken.npz").write_bytes(b"not a zip")
    np.testing.assert_array_equal(embedding.embed(cluster_texts[:5], "use"), cluster_vectors[:5])
    assert embed_calls == [] and "0000broken.npz: unreadable embedding cache shard" in caplog.text


def test_fit_predict_save_load_round_trip(cluster_home, cluster_texts, cluster_vectors, tmp_path):
    clusterer = embedding.Clusterer(k=8, embedder="use", seed=42).fit(cluster_texts)
    assert clusterer.centroids_.shape == (8, 512) and clusterer.embedder == "use"
    assigned = clusterer.predict(cluster_texts)
    assert assigned.dtype.kind == "i" and set(assigned) <= set(range(8)) and len(set(assigned)) > 1
    # Nearest centroid by cosine, computed independently.
    sims = cluster_vectors @ clusterer.centroids_.T / np.linalg.norm(clusterer.centroids_, axis=1)
    np.testing.assert_array_equal(assigned, sims.argmax(axis=1))

    saved = clusterer.save(tmp_path / "clusterer")
    assert json.loads((saved / "clusterer.json").read_text()) == {"k": 8, "embedder": "use", "seed": 42, "dim": 512}
    loaded = embedding.Clusterer.load(saved)
    assert (loaded.k, loaded.embedder, loaded.seed) == (8, "use", 42)
    np.testing.assert_array_equal(loaded.centroids_, clusterer.centroids_)
    np.testing.assert_array_equal(loaded.predict(cluster_texts), assigned)


def test_fit_is_deterministic_for_a_seed(cluster_vectors):
    a = embedding.Clusterer(k=6, seed=7).fit_vectors(cluster_vectors)
    b = embedding.Clusterer(k=6, seed=7).fit_vectors(cluster_vectors)
    np.testing.assert_array_equal(a.centroids_, b.centroids_)
    np.testing.assert_array_equal(a.predict_vectors(cluster_vectors), b.predict_vectors(cluster_vectors))


def test_table_counts_every_article(cluster_sample, cluster_vectors):
    assigned = embedding.Clusterer(k=8).fit_vectors(cluster_vectors).predict_vectors(cluster_vectors)
    table = embedding.cluster_table(assigned, cluster_sample["label"])
    assert table.to_numpy().sum() == len(cluster_sample) == 40
    assert list(table.columns) == sorted(cluster_sample["label"].unique())
    assert list(table.index) == sorted(set(assigned))
    assert (table.sum(axis=0) == 5).all()


def test_scores_on_hand_made_examples():
    perfect = embedding.scores([3, 3, 0, 0, 1], ["a", "a", "b", "b", "c"])
    assert perfect == pytest.approx({"purity": 1.0, "nmi": 1.0, "ari": 1.0})
    independent = embedding.scores([0, 1, 0, 1], ["a", "a", "b", "b"])
    assert independent == pytest.approx({"purity": 0.5, "nmi": 0.0, "ari": -0.5}, abs=1e-12)
    # Clusters {a, a, b} and {b}: purity (2 + 1) / 4; ARI's index equals its expectation; NMI by hand.
    ln = math.log
    mi = 0.5 * ln(0.5 / (0.5 * 0.75)) + 0.25 * ln(0.25 / (0.5 * 0.75)) + 0.25 * ln(0.25 / (0.5 * 0.25))
    h_labels, h_clusters = ln(2), -(0.75 * ln(0.75) + 0.25 * ln(0.25))
    lopsided = embedding.scores([0, 0, 0, 1], ["a", "a", "b", "b"])
    assert lopsided == pytest.approx({"purity": 0.75, "nmi": mi / ((h_labels + h_clusters) / 2), "ari": 0.0},
                                     abs=1e-12)


def test_plot_table_writes_a_png(tmp_path):
    table = embedding.cluster_table([0, 0, 1, 2], ["정치", "경제", "경제", "사회"])
    embedding.plot_table(table, tmp_path / "h" / "heatmap.png", "title")
    assert (tmp_path / "h" / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 0, -3, 2.5, "8", True])
def test_bad_k(k):
    with pytest.raises(KornewsError, match=r"k must be a whole number of at least 2, got"):
        embedding.Clusterer(k=k)


def test_unknown_embedder_without_sentence_transformers(monkeypatch, cluster_home):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails even where it is installed
    with pytest.raises(KornewsError, match=r"embedder 'org/some-model' needs `pip install sentence-transformers` "
                                           r"and the Hub \(built-in embedders: use, me5-small, me5-small-bf16\)"):
        embedding.embed(["기사"], "org/some-model")


def test_unfitted_and_mismatched_clusterer(cluster_vectors, tmp_path):
    with pytest.raises(KornewsError, match="not fitted"):
        embedding.Clusterer(k=4).predict_vectors(cluster_vectors)
    with pytest.raises(KornewsError, match="cannot save an unfitted clusterer"):
        embedding.Clusterer(k=4).save(tmp_path / "c")
    fitted = embedding.Clusterer(k=4).fit_vectors(cluster_vectors)
    with pytest.raises(KornewsError, match="embeddings have 384 dimensions, the centroids 512"):
        fitted.predict_vectors(np.ones((3, 384), dtype=np.float32))
    with pytest.raises(KornewsError, match="no texts to embed"):
        embedding.embed([], "use")


def test_corrupt_clusterer_dirs(cluster_vectors, tmp_path):
    saved = embedding.Clusterer(k=4).fit_vectors(cluster_vectors).save(tmp_path / "good")
    with pytest.raises(KornewsError, match=r"missing/clusterer\.json: no such file \(not a saved clusterer\)"):
        embedding.Clusterer.load(tmp_path / "missing")

    config = saved / "clusterer.json"
    good_config = config.read_text()
    for bad in ("{not json", '{"k": 4}', '{"k": 1, "embedder": "use", "dim": 512}', "[1, 2]"):
        config.write_text(bad)
        with pytest.raises(KornewsError, match=r"good/clusterer\.json: corrupt clusterer file"):
            embedding.Clusterer.load(saved)
    config.write_text(good_config)

    centroids = saved / "centroids.npy"
    np.save(centroids, np.ones((3, 512), dtype=np.float32))
    with pytest.raises(KornewsError, match=r"centroids\.npy: corrupt centroids file \(shape \(3, 512\), "
                                           r"clusterer\.json says 4 x 512\)"):
        embedding.Clusterer.load(saved)
    centroids.write_bytes(b"garbage")
    with pytest.raises(KornewsError, match=r"centroids\.npy: corrupt centroids file"):
        embedding.Clusterer.load(saved)
    centroids.unlink()
    with pytest.raises(KornewsError, match=r"centroids\.npy: no such file \(the clusterer is incomplete\)"):
        embedding.Clusterer.load(saved)
