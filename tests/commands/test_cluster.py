"""commands.cluster: `kornews cluster` writes tables, clusterers and a summary for every k."""
import json

import pandas as pd
import pytest

from kornews.cli import main
from kornews.commands.cluster import cluster
from kornews.core.errors import KornewsError
from kornews.model import embedding


def test_cluster_run_writes_tables_clusterers_and_summary(cluster_home, cluster_sample, cluster_vectors, tmp_path,
                                                           embed_calls):
    columns = {"id": cluster_sample["id"], "title": cluster_sample["title"], "cleanBody": cluster_sample["body"],
               "category": cluster_sample["label"]}
    pd.DataFrame(columns).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(columns).iloc[::5].to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "out"
    summary = cluster(tmp_path / "train.csv", ks=(2, 8), out_dir=out, test_source=tmp_path / "test.csv")
    assert embed_calls == []  # every text was embedded (and cached) by the fixture
    assert summary["articles"] == {"train": 40, "test": 8} and list(summary["k"]) == ["2", "8"]
    assert json.loads((out / "summary.json").read_text()) == summary
    for k in (2, 8):
        folder = out / f"k{k}"
        table = pd.read_csv(folder / "table.csv", index_col="cluster")
        assert table.to_numpy().sum() == 40 and len(table) == k
        assert pd.read_csv(folder / "test_table.csv", index_col="cluster").to_numpy().sum() == 8
        assert (folder / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
        clusterer = embedding.Clusterer.load(folder / "clusterer")
        assigned = clusterer.predict_vectors(cluster_vectors)
        assert summary["k"][str(k)]["train"] == pytest.approx(embedding.scores(assigned, cluster_sample["label"]))
        assert summary["k"][str(k)]["test"] == pytest.approx(
            embedding.scores(assigned[::5], cluster_sample["label"][::5]))
    md = (out / "summary.md").read_text()
    assert "| k | train purity | train NMI | train ARI | test purity | test NMI | test ARI |" in md
    assert f"| 8 | {summary['k']['8']['train']['purity']:.4f} |" in md


def test_more_clusters_than_articles(cluster_vectors, tmp_path, embed_calls):
    with pytest.raises(KornewsError, match=r"cannot make 41 clusters from 40 articles: use k of at most 40"):
        embedding.Clusterer(k=41).fit_vectors(cluster_vectors)
    with pytest.raises(KornewsError, match=r"cannot make 2000 clusters from the 1280 articles of knews8"):
        cluster("knews8", ks=(8, 2000), out_dir=tmp_path)
    assert embed_calls == []  # refused before embedding anything


def test_cluster_verb_writes_tables(slices, tmp_path, capsys):
    assert main(["cluster", str(slices / "train.csv"), "--k", "2,4", "--test", str(slices / "test.csv"),
                 "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert "purity" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "c" / "k4" / "table.csv", index_col=0)
    assert table.to_numpy().sum() == 96 and table.shape == (4, 8)
    assert (tmp_path / "c" / "k2" / "test_table.csv").is_file() and (tmp_path / "c" / "summary.json").is_file()
    assert main(["cluster", str(slices / "train.csv"), "--k", "two"]) == 2
