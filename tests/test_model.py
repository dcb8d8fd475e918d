import numpy as np
import torch

from kornews import backbones, encode, model as model_mod


def _features(tok, template):
    inputs = {"text": ["서울 경제 뉴스 오늘", "축구 결과"], "text_pair": ["본문 내용이 길다 " * 5, None],
              "cluster": None}
    return encode.encode(tok, template, inputs, 32)


def test_cached_prefix_gives_the_full_models_logits(tiny_backbone):
    model = model_mod.build(str(tiny_backbone), {0: "a", 1: "b", 2: "c"}).eval()
    tok = backbones.load_tokenizer(tiny_backbone)
    template = encode.Template.from_tokenizer(tok)
    feats = _features(tok, template)
    full = model_mod.doc_logits(model, feats, template.pad_id, 8)
    cached = model_mod.cache_prefix(model, feats, 1, template.pad_id, 8)
    assert cached["prefix"] == 1 and cached["hidden"][0].dtype == torch.float16
    np.testing.assert_allclose(model_mod.doc_logits(model, cached, template.pad_id, 8), full, atol=1e-4)
    # the swap is undone: the model still has all its layers afterwards
    assert len(model_mod.encoder_layers(model)) == 2


def test_build_carries_labels_and_inference_settings(tiny_backbone, tmp_path):
    model = model_mod.build(str(tiny_backbone), {0: "경제", 1: "사회"}, dropout=0.2,
                            inference={"mode": 2, "max_len": 64})
    assert model.config.id2label == {0: "경제", 1: "사회"} and model.config.label2id == {"경제": 0, "사회": 1}
    assert model.config.hidden_dropout_prob == 0.2
    model.save_pretrained(tmp_path)
    loaded = model_mod.load(tmp_path)
    assert loaded.config.kornews == {"mode": 2, "max_len": 64} and not loaded.training


def test_a_classifier_as_backbone_keeps_its_encoder_and_gets_a_fresh_head(tiny_backbone, tmp_path):
    first = model_mod.build(str(tiny_backbone), {0: "a", 1: "b", 2: "c"}, seed=1)
    with torch.no_grad():
        first.classifier.weight.add_(1.0)  # as if trained
    first.save_pretrained(tmp_path / "run")
    # another label count: the head is rebuilt instead of a size-mismatch error
    second = model_mod.build(str(tmp_path / "run"), {i: str(i) for i in range(5)}, seed=2)
    assert second.classifier.weight.shape[0] == 5 and second.config.id2label[4] == "4"
    query = "encoder.layer.1.attention.self.query.weight"
    assert torch.equal(second.bert.state_dict()[query], first.bert.state_dict()[query])
    # the same count: still a fresh head, never the old labels' rows, and deterministic per seed
    same = model_mod.build(str(tmp_path / "run"), {0: "x", 1: "y", 2: "z"}, seed=2)
    again = model_mod.build(str(tmp_path / "run"), {0: "x", 1: "y", 2: "z"}, seed=2)
    assert not torch.allclose(same.classifier.weight, first.classifier.weight)
    assert torch.equal(same.classifier.weight, again.classifier.weight)
    assert same.classifier.weight.std() < 0.1
