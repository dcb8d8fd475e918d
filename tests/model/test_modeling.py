import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from kornews import Classifier
from kornews.cli import main
from kornews.core.errors import KornewsError
from kornews.model import backbones, embedding, encode, modeling
from kornews.model.encode import Features
from kornews.model.featurize import InputSpec
from kornews.training import loop, setup


def _features(tok, template):
    inputs = {"text": ["서울 경제 뉴스 오늘", "축구 결과"], "text_pair": ["본문 내용이 길다 " * 5, None],
              "cluster": None}
    return encode.encode(tok, template, inputs, 32)


def test_cached_prefix_gives_the_full_models_logits(tiny_backbone):
    model = modeling.build(str(tiny_backbone), {0: "a", 1: "b", 2: "c"}).eval()
    tok = backbones.load_tokenizer(tiny_backbone)
    template = encode.Template.from_tokenizer(tok)
    feats = _features(tok, template)
    full = modeling.doc_logits(model, feats, template.pad_id, 8)
    cached = modeling.cache_prefix(model, feats, 1, template.pad_id, 8)
    assert cached.prefix == 1 and cached.hidden[0].dtype == torch.float16
    np.testing.assert_allclose(modeling.doc_logits(model, cached, template.pad_id, 8), full, atol=1e-4)
    # the swap is undone: the model still has all its layers afterwards
    assert len(modeling.encoder_layers(model)) == 2


def test_build_carries_labels_and_input_spec(tiny_backbone, tmp_path):
    spec = InputSpec(mode=2, max_len=64, long_strategy="head")
    model = modeling.build(str(tiny_backbone), {0: "경제", 1: "사회"}, dropout=0.2, spec=spec)
    assert model.config.id2label == {0: "경제", 1: "사회"} and model.config.label2id == {"경제": 0, "사회": 1}
    assert model.config.hidden_dropout_prob == 0.2
    modeling.save(model, tmp_path)
    loaded = modeling.load(tmp_path)
    assert InputSpec.from_dict(loaded.config.kornews) == spec and not loaded.training
    # stored compactly in bf16, loaded in the dtype asked for; the model in memory stays fp32
    assert loaded.dtype == torch.float32 and model.dtype == torch.float32
    assert modeling.load(tmp_path, torch.bfloat16).dtype == torch.bfloat16
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    for name, weight in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], weight.to(torch.bfloat16).float())


def test_a_classifier_as_backbone_keeps_its_encoder_and_gets_a_fresh_head(tiny_backbone, tmp_path):
    first = modeling.build(str(tiny_backbone), {0: "a", 1: "b", 2: "c"}, seed=1)
    with torch.no_grad():
        first.classifier.weight.add_(1.0)  # as if trained
    first.save_pretrained(tmp_path / "run")
    # another label count: the head is rebuilt instead of a size-mismatch error
    second = modeling.build(str(tmp_path / "run"), {i: str(i) for i in range(5)}, seed=2)
    assert second.classifier.weight.shape[0] == 5 and second.config.id2label[4] == "4"
    query = "encoder.layer.1.attention.self.query.weight"
    assert torch.equal(second.bert.state_dict()[query], first.bert.state_dict()[query])
    # the same count: still a fresh head, never the old labels' rows, and deterministic per seed
    same = modeling.build(str(tmp_path / "run"), {0: "x", 1: "y", 2: "z"}, seed=2)
    again = modeling.build(str(tmp_path / "run"), {0: "x", 1: "y", 2: "z"}, seed=2)
    assert not torch.allclose(same.classifier.weight, first.classifier.weight)
    assert torch.equal(same.classifier.weight, again.classifier.weight)
    assert same.classifier.weight.std() < 0.1


def test_a_saved_bf16_run_continues_in_fp32_with_its_own_head(tiny_backbone, tmp_path):
    first = modeling.build(str(tiny_backbone), {0: "a", 1: "b"}, seed=1)
    modeling.save(first, tmp_path / "model")  # as a run saves it: bf16
    kept = modeling.build(str(tmp_path / "model"), {0: "a", 1: "b"}, keep_head=True)
    assert {p.dtype for p in kept.parameters()} == {torch.float32}  # bf16 weights would break the frozen cache
    assert torch.equal(kept.classifier.weight, first.classifier.weight.to(torch.bfloat16).float())
    with pytest.raises(KornewsError, match="its labels .* are not the training data's .* cannot be continued"):
        modeling.build(str(tmp_path / "model"), {0: "a", 1: "c"}, keep_head=True)
    # labels after its own: a zero row each, the rows it had untouched, so its answers keep their order
    grown = modeling.build(str(tmp_path / "model"), {0: "a", 1: "b", 2: "날씨"}, keep_head=True)
    assert grown.config.id2label == {0: "a", 1: "b", 2: "날씨"} and grown.num_labels == 3
    assert torch.equal(grown.classifier.weight[:2], kept.classifier.weight)
    assert torch.equal(grown.classifier.bias[:2], kept.classifier.bias)
    assert not grown.classifier.weight[2].any() and grown.classifier.bias[2] == kept.classifier.bias.mean()
    batch = {"input_ids": torch.tensor([[0, 100, 200, 2]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    kept.eval(), grown.eval()
    with torch.no_grad():
        assert torch.allclose(grown(**batch).logits[:, :2], kept(**batch).logits, atol=1e-6)
    with pytest.raises(KornewsError, match="cannot be continued"):  # a new label in place of one it had
        modeling.build(str(tmp_path / "model"), {0: "b", 1: "a", 2: "c"}, keep_head=True)


def test_batches_cover_everything_once_and_shard_evenly():
    f = Features([[1] * (i % 7 + 1) for i in range(103)], [], np.zeros(103, dtype=int))
    b = modeling.batches(f, 8, shuffle=True, seed=3, group_by_length=True)
    assert sorted(np.concatenate(b).tolist()) == list(range(103))
    again = modeling.batches(f, 8, shuffle=True, seed=3, group_by_length=True)
    assert [x.tolist() for x in b] == [x.tolist() for x in again]
    r0 = modeling.batches(f, 8, shuffle=True, seed=3, shard=(0, 2))
    r1 = modeling.batches(f, 8, shuffle=True, seed=3, shard=(1, 2))
    assert len(r0) == len(r1) and not set(np.concatenate(r0)) & set(np.concatenate(r1))


def test_collate_pads_and_masks():
    f = Features([[2, 4, 3], [2, 4, 5, 6, 3]], [[0, 0, 0], [0, 0, 0, 1, 1]], np.array([0, 1]))
    batch = modeling.collate(f, np.array([0, 1]), pad_id=0, labels=[5, 6])
    assert batch["input_ids"].tolist() == [[2, 4, 3, 0, 0], [2, 4, 5, 6, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [5, 6]


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
    ids = embedding.Clusterer.load(cluster_run / "clusterer").predict(embedding.article_text(df))
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

    from kornews.model import backbones, modeling
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

    from kornews.model import modeling
    cfg = tiny_cfg(mode=4, clusters={"k": 3}, freeze_layers=1)
    p = setup.prepare(cfg)
    setup.freeze(p.model, cfg)
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
    from kornews.model import modeling
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
