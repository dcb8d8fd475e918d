"""Modes 4 and 5: the cluster id must reach the model, survive saving, and be computed for new articles."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from kornews import Classifier, clusters, loop
from kornews.cli import main
from kornews.errors import KornewsError

from conftest import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


@pytest.fixture(scope="module", params=[4, 5])
def cluster_run(request, slices, tiny_backbone, tmp_path_factory, tiny_cfg):
    run = tmp_path_factory.mktemp(f"mode{request.param}") / "run"
    # one frozen layer, as the default recipe freezes layers: the cluster information must still learn
    cfg = tiny_cfg(mode=request.param, epochs=1, clusters={"k": 3}, lr=1e-3, freeze_layers=1)
    loop.train(cfg, run, progress=False, log=lambda s: None)
    return run


def _articles(slices, n=6):
    df = pd.read_csv(slices / "test.csv", dtype=str).head(n)
    return pd.DataFrame({"id": df["id"], "title": df["title"], "body": df["cleanBody"]})


def test_cluster_id_changes_the_logits(cluster_run, slices):
    clf = Classifier.load(cluster_run)
    df = _articles(slices)
    probs = [clf.predict_proba(df.assign(cluster=c)) for c in range(3)]
    assert not np.allclose(probs[0], probs[1], atol=1e-6) and not np.allclose(probs[1], probs[2], atol=1e-6)


def test_run_assigns_clusters_itself_and_reloads_identically(cluster_run, slices):
    assert (cluster_run / "clusterer" / "centroids.npy").is_file()
    df = _articles(slices)
    clf = Classifier.load(cluster_run)
    ids = clusters.Clusterer.load(cluster_run / "clusterer").predict(clusters.article_text(df))
    np.testing.assert_allclose(clf.predict_proba(df), clf.predict_proba(df.assign(cluster=ids)), atol=1e-6)
    np.testing.assert_allclose(Classifier.load(cluster_run).predict_proba(df), clf.predict_proba(df), atol=1e-6)


def test_evaluate_matches_a_fresh_load(cluster_run, slices):
    assert main(["evaluate", str(cluster_run), str(slices / "test.csv"), "--quiet"]) == 0
    # the saved model scores exactly what the in-memory model scored on the same test file while training
    report = json.loads((cluster_run / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(json.loads((cluster_run / "final.json").read_text())["test_acc"])
    saved = pd.read_csv(cluster_run / "predictions.csv", dtype=str)
    test = pd.read_csv(slices / "test.csv", dtype=str)
    fresh = Classifier.load(cluster_run).predict([{"title": t, "body": b}
                                                  for t, b in zip(test.title, test.cleanBody)])
    assert saved["pred"].tolist() == fresh


def test_cluster_information_is_learned_and_saved(cluster_run, tiny_backbone):
    import torch
    from safetensors.torch import load_file
    from kornews import backbones, modeling
    clf = Classifier.load(cluster_run)
    if clf.mode == 4:
        assert clf.tokenizer.convert_tokens_to_ids(["[C0]", "[C2]"]) == clf.cluster_token_ids[::2]
        # the cluster rows moved away from their initialisation while every other row stayed frozen
        fresh = modeling.build(str(tiny_backbone), {0: "a"})
        ids = modeling.add_cluster_tokens(fresh, backbones.load_tokenizer(tiny_backbone), 3)
        # the run stores bf16: compare with the initial rows as they would be stored
        before = fresh.get_input_embeddings().weight.detach().to(torch.bfloat16).float()
        after = modeling.load(cluster_run / "model").get_input_embeddings().weight.detach()
        assert ids == clf.cluster_token_ids
        assert not torch.allclose(before[ids], after[ids])
        others = torch.ones(len(after), dtype=torch.bool)
        others[ids] = False
        assert torch.equal(before[others], after[others])
    else:
        table = load_file(str(cluster_run / "model" / "cluster_embeddings.safetensors"))["weight"]
        init = modeling.ClusterEmbedding(modeling.build(str(tiny_backbone), {0: "a"}), 3).table.weight.detach()
        assert table.shape == (3, init.shape[1]) and not torch.allclose(table, init)


def test_mode4_trains_only_the_cluster_rows_of_a_frozen_table(slices, tiny_backbone, tiny_cfg):
    import torch
    from kornews import modeling
    cfg = tiny_cfg(mode=4, clusters={"k": 3}, freeze_layers=1)
    p = loop.prepare(cfg)
    loop.freeze(p.model, cfg)
    table = modeling.hf(p.model).get_input_embeddings().weight
    trainable = {n for n, t in p.model.named_parameters() if t.requires_grad}
    assert "rows" in trainable and not table.requires_grad and p.model.rows.shape == (3, table.shape[1])
    batch = {k: v for k, v in encode_batch(p).items() if k != "labels"}
    p.model(**batch).logits.sum().backward()
    # the batch's cluster tokens reach the small parameter; the 250k-row table holds no gradient at all
    assert table.grad is None and p.model.rows.grad.abs().sum() > 0
    # the wrapper computes exactly what the plain model computes once the rows are written back
    p.model.eval()
    with torch.no_grad():
        p.model.rows += torch.randn_like(p.model.rows)  # as if trained (a uniform shift would vanish in LayerNorm)
        wrapped = p.model(**batch).logits
        assert (wrapped - modeling.hf(p.model)(**batch).logits).abs().max() > 1e-6
        modeling.hf(p.model).get_input_embeddings().weight[p.featurizer.cluster_token_ids] = p.model.rows
        plain = modeling.hf(p.model)(**batch).logits
    torch.testing.assert_close(wrapped, plain)


def encode_batch(p):
    from kornews import modeling
    return modeling.collate(p.train, list(range(8)), p.pad_id, labels=p.train_y)


def test_out_of_range_cluster_id(cluster_run, slices):
    with pytest.raises(KornewsError, match="cluster id 7 is out of range for this run \\(k=3"):
        Classifier.load(cluster_run).predict_proba(_articles(slices).assign(cluster=7))


def test_missing_clusterer_is_named(cluster_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(cluster_run, broken)
    shutil.rmtree(broken / "clusterer")
    with pytest.raises(KornewsError, match="clusterer.json: no such file"):
        Classifier.load(broken)


def test_cluster_verb_writes_tables(slices, tmp_path, capsys):
    assert main(["cluster", str(slices / "train.csv"), "--k", "2,4", "--test", str(slices / "test.csv"),
                 "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert "purity" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "c" / "k4" / "table.csv", index_col=0)
    assert table.to_numpy().sum() == 96 and table.shape == (4, 8)
    assert (tmp_path / "c" / "k2" / "test_table.csv").is_file() and (tmp_path / "c" / "summary.json").is_file()
    assert main(["cluster", str(slices / "train.csv"), "--k", "two"]) == 2
