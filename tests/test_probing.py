"""LP-FT's linear probe: the logistic regression, the head it fills, and a run that starts from it."""
import numpy as np
import pytest
import torch

from kornews import config, loop, modeling, probing
from kornews.errors import KornewsError


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
    assert probe.C in probing.STRENGTHS and probe.val_acc > 0.9
    assert probe.weight.shape == (3, 16) and probe.bias.shape == (3,)
    assert probe.val_acc == np.mean((xv @ probe.weight.T + probe.bias).argmax(1) == yv)
    only_weak = probing.fit_probe(x, y, xv, yv, 3, strengths=(1e-4,))
    assert only_weak.C == 1e-4 and only_weak.val_loss > probe.val_loss


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
    ref = LogisticRegression(C=probe.C, max_iter=2000).fit(x, y)
    ours = _softmax(xv @ probe.weight.T + probe.bias)
    assert ours[:, 1].max() < 1e-9  # topic 1 never seen: never predicted
    np.testing.assert_allclose(ours[:, [0, 2]], ref.predict_proba(xv), atol=1e-4)
    with pytest.raises(KornewsError, match="at least two topics"):
        probing.fit_probe(x[y == 0], y[y == 0], xv, yv, 3)


def test_head_inputs_are_what_the_head_reads(tiny_cfg):
    p = loop.prepare(tiny_cfg(test=None))
    x = probing.head_inputs(p.model, p.val, p.pad_id, 8)
    assert x.shape == (len(p.val), probing.head_layer(p.model).in_features)
    probe = probing.fit_probe(probing.head_inputs(p.model, p.train, p.pad_id, 8), p.train_y[p.train.doc],
                              x, p.val_y[p.val.doc], len(p.id2label))
    probing.set_head(p.model, probe)
    logits = modeling.doc_logits(p.model, p.val, p.pad_id, 8)  # one window per article here (head strategy)
    np.testing.assert_allclose(logits, x @ probe.weight.T + probe.bias, atol=1e-4)


def test_a_model_without_a_head_of_its_labels_is_one_line(tiny_cfg):
    p = loop.prepare(tiny_cfg(test=None))
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
    ({"head_init": "prompts"}, "head_init must be one of random, probe"),
    ({"head_init": "probe", "distill": {"teacher": "t"}, "freeze_layers": 0}, "head_init: probe fits a new head"),
])
def test_bad_head_init_is_one_line(over, message):
    with pytest.raises(KornewsError, match=message):
        config.load(base={"train": "x", **over})
