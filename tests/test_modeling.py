import json

import numpy as np
import torch

from kornews import backbones, encode, modeling
from kornews.encode import Features
from kornews.featurize import InputSpec


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
