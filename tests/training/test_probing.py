"""A head that starts as a classifier: LP-FT's probe, prototypes from topic descriptions, runs starting from them."""
import json

import numpy as np
import pytest
import torch

from kornews.core.errors import KornewsError
from kornews.model import modeling
from kornews.training import config, loop, probing, setup


def _blobs(n_per, labels, seed, spread=0.6):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(max(labels) + 1, 16))
    x = np.concatenate([np.tanh(centres[k] + spread * rng.normal(size=(n_per, 16))) for k in labels])
    return x.astype(np.float32), np.repeat(labels, n_per)


def _softmax(z):
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def test_probe_separates_topics_and_reports_the_strength_validation_chose():
    x, y = _blobs(40, [0, 1, 2], seed=1)
    xv, yv = _blobs(20, [0, 1, 2], seed=2)
    probe = probing.fit_probe(x, y, xv, yv, 3)
    assert probe.setting in probing.STRENGTHS and probe.val_acc > 0.9
    assert probe.weight.shape == (3, 16) and probe.bias.shape == (3,)
    assert probe.val_acc == np.mean((xv @ probe.weight.T + probe.bias).argmax(1) == yv)
    only_weak = probing.fit_probe(x, y, xv, yv, 3, strengths=(1e-4,))
    assert only_weak.setting == 1e-4 and only_weak.val_loss > probe.val_loss


def test_rows_without_one_label_are_left_out():
    x, y = _blobs(30, [0, 1, 2], seed=3)
    xv, yv = _blobs(10, [0, 1, 2], seed=4)
    noise = np.random.default_rng(5).normal(size=(10, 16)).astype(np.float32)
    mixed = probing.fit_probe(np.concatenate([x, noise]), np.concatenate([y, [-1] * 5 + [3] * 5]), xv, yv, 3)
    clean = probing.fit_probe(x, y, xv, yv, 3)
    np.testing.assert_allclose(mixed.weight, clean.weight, atol=1e-5)


def test_two_topics_and_a_topic_training_lacks():
    x, y = _blobs(30, [0, 2], seed=6)
    xv, yv = _blobs(10, [0, 2], seed=7)
    probe = probing.fit_probe(x, y, xv, yv, 3)
    from sklearn.linear_model import LogisticRegression
    ref = LogisticRegression(C=probe.setting, max_iter=2000).fit(x, y)
    ours = _softmax(xv @ probe.weight.T + probe.bias)
    assert ours[:, 1].max() < 1e-9  # topic 1 never seen: never predicted
    np.testing.assert_allclose(ours[:, [0, 2]], ref.predict_proba(xv), atol=1e-4)
    with pytest.raises(KornewsError, match="at least two topics"):
        probing.fit_probe(x[y == 0], y[y == 0], xv, yv, 3)


def test_head_inputs_are_what_the_head_reads(tiny_cfg):
    p = setup.prepare(tiny_cfg(test=None))
    x = probing.head_inputs(p.model, p.val, p.pad_id, 8)
    assert x.shape == (len(p.val), probing.head_layer(p.model).in_features)
    probe = probing.fit_probe(probing.head_inputs(p.model, p.train, p.pad_id, 8), p.train_y[p.train.doc],
                              x, p.val_y[p.val.doc], len(p.id2label))
    probing.set_head(p.model, probe)
    logits = modeling.doc_logits(p.model, p.val, p.pad_id, 8)  # one window per article here (head strategy)
    np.testing.assert_allclose(logits, x @ probe.weight.T + probe.bias, atol=1e-4)


def test_a_model_without_a_head_of_its_labels_is_one_line(tiny_cfg):
    p = setup.prepare(tiny_cfg(test=None))
    p.model.classifier = torch.nn.Linear(p.model.config.hidden_size, len(p.id2label) + 1)
    with pytest.raises(KornewsError, match="no linear layer with 8 outputs"):
        probing.head_layer(p.model)


def test_a_probed_run_starts_from_the_probe(tiny_cfg, tmp_path, monkeypatch):
    """At a learning rate too small to move anything, the saved head is the probe validation chose."""
    fitted, lines = [], []
    real = probing.fit_probe
    monkeypatch.setattr(probing, "fit_probe", lambda *a, **k: fitted.append(real(*a, **k)) or fitted[-1])
    loop.train(tiny_cfg(head_init="probe", epochs=1, test=None, lr=1e-12), tmp_path / "r", progress=False,
               log=lines.append)
    assert len(fitted) == 1 and any(line.startswith("linear probe: C=") for line in lines)
    from safetensors.torch import load_file
    saved = load_file(tmp_path / "r/model/model.safetensors")
    torch.testing.assert_close(saved["classifier.weight"].float(), torch.from_numpy(fitted[0].weight),
                               atol=0.02, rtol=0.01)  # bf16 on disk
    assert config.load(base={"train": "x"}).head_init == "random"


@pytest.mark.parametrize("over,message", [
    ({"head_init": "prompts"}, "head_init must be one of random, probe, topics"),
    ({"head_init": "topics", "adapt": {"source": "r", "unlabeled": "u.csv"}}, "head_init: topics fits a new head"),
    ({"head_init": "probe", "distill": {"teacher": "t"}, "freeze_layers": 0}, "head_init: probe fits a new head"),
])
def test_bad_head_init_is_one_line(over, message):
    with pytest.raises(KornewsError, match=message):
        config.load(base={"train": "x", **over})


def test_prototypes_point_from_the_mean_to_each_description_and_validation_picks_the_scale():
    x, y = _blobs(40, [0, 1, 2], seed=8)
    xv, yv = _blobs(20, [0, 1, 2], seed=9)
    centres = np.tanh(np.random.default_rng(0).normal(size=(3, 16))).astype(np.float32)  # each topic on itself
    head = probing.fit_prototypes(centres, x, xv, yv)
    assert head.setting in probing.SCALES and head.val_acc > 0.9
    np.testing.assert_allclose(np.linalg.norm(head.weight, axis=1), head.setting, rtol=1e-5)  # one scale, unit rows
    logits = xv @ head.weight.T + head.bias
    assert head.val_acc == np.mean(logits.argmax(1) == yv)
    # logit = scale · <direction, x − the training mean>: a window at that mean scores every topic 0
    np.testing.assert_allclose(x.mean(0) @ head.weight.T + head.bias, 0.0, atol=1e-4)
    # a shift common to every description (short texts against long articles) changes nothing
    shifted = probing.fit_prototypes(centres + 0.5, x, xv, yv)
    np.testing.assert_allclose(shifted.weight, head.weight, atol=1e-5)
    tiny = probing.fit_prototypes(centres, x, xv, yv, scales=(1e-3,))
    assert tiny.val_loss > head.val_loss  # a near-flat head: validation would not have chosen it
    with pytest.raises(KornewsError, match="at least two topics"):
        probing.fit_prototypes(centres[:1], x, xv, yv)


def test_a_run_with_a_topic_head_starts_from_the_descriptions(tiny_cfg, tmp_path, monkeypatch):
    """At a learning rate too small to move anything, the saved head is the prototypes of the run's topics'
    built-in descriptions, read as the model reads articles."""
    from kornews.model import descriptions
    fitted, described, lines = [], [], []
    real_fit, real_description = probing.fit_prototypes, descriptions.description
    monkeypatch.setattr(probing, "fit_prototypes", lambda *a, **k: fitted.append(real_fit(*a, **k)) or fitted[-1])
    monkeypatch.setattr(descriptions, "description", lambda label: described.append(label) or real_description(label))
    loop.train(tiny_cfg(head_init="topics", epochs=1, test=None, lr=1e-12), tmp_path / "r", progress=False,
               log=lines.append)
    id2label = json.loads((tmp_path / "r/model/config.json").read_text())["id2label"]
    labels = [id2label[str(i)] for i in range(len(id2label))]
    assert described == labels and len(fitted) == 1 and fitted[0].weight.shape[0] == len(labels)
    assert any(line.startswith("topic head: scale=") for line in lines)
    from safetensors.torch import load_file
    saved = load_file(tmp_path / "r/model/model.safetensors")
    torch.testing.assert_close(saved["classifier.weight"].float(), torch.from_numpy(fitted[0].weight),
                               atol=0.05 * fitted[0].setting, rtol=0.01)  # bf16 on disk


def test_built_in_descriptions_and_a_label_of_ones_own():
    from kornews.model import descriptions
    assert descriptions.description("politics") == descriptions.TOPICS["politics"]
    assert descriptions.description("스포츠") == descriptions.TOPICS["sport"]
    assert descriptions.description("날씨") == "날씨"
