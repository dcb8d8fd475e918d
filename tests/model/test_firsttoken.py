import threading

import numpy as np
import pytest
import torch

from kornews.model import firsttoken, modeling

_original = firsttoken.first_token_forward


@pytest.fixture
def classifier(tiny_backbone):
    return modeling.build(str(tiny_backbone), {0: "a", 1: "b", 2: "c"}, dropout=0.0).eval()


def _batch(n=3, length=24, seed=0):
    """Ids of varied lengths (padding in every row but the first), so the mask matters."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 3000, (n, length), generator=generator)
    mask = torch.ones(n, length, dtype=torch.long)
    for row in range(1, n):
        mask[row, length - 5 * row:] = 0
    ids[:, 0] = 0  # [CLS]
    return {"input_ids": ids * mask + (1 - mask), "attention_mask": mask}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_logits_equal_the_full_models(classifier, attention):
    classifier.config._attn_implementation = attention
    batch = _batch()
    with torch.no_grad():
        full = classifier(**batch).logits
        with firsttoken.first_token_only(classifier):
            fast = classifier(**batch).logits
    assert not torch.equal(full[0], full[1])  # rows differ: the comparison below is not of constants
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)


def test_training_gradients_equal_the_full_models(classifier):
    classifier.train()  # dropout 0: the two passes are the same function
    batch, labels = _batch(), torch.tensor([0, 2, 1])
    grads = []
    for fast in (False, True):
        classifier.zero_grad()
        with firsttoken.first_token_only(classifier) if fast else torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(classifier(**batch).logits, labels)
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in classifier.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()  # every weight of the top layer still learns
    top = [n for n in grads[0] if ".layer.1." in n]
    assert top and all(grads[0][n].abs().sum() > 0 for n in top)
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-5, rtol=1e-4)


def test_only_inside_the_block_and_only_on_its_thread(classifier):
    batch = _batch()
    base = classifier.bert

    def length():
        with torch.no_grad():
            return base(**batch).last_hidden_state.shape[1]
    seen = {}
    with firsttoken.first_token_only(classifier):
        inside = length()
        worker = threading.Thread(target=lambda: seen.setdefault("other thread", length()))
        worker.start()
        worker.join()
    assert (inside, seen["other thread"], length()) == (1, 24, 24)
    # the layer's weights and names are untouched: the saved model is the same
    assert all(".forward" not in k for k in classifier.state_dict())


def test_cached_prefix_path_uses_it_and_keeps_the_logits(classifier, monkeypatch):
    calls = []
    monkeypatch.setattr(firsttoken, "first_token_forward",
                        lambda *a, **k: calls.append(1) or _original(*a, **k))
    batch = _batch()
    with torch.no_grad():
        full = classifier(**batch).logits
        assert modeling.forward(classifier, batch).shape == full.shape
    assert calls  # the training/validation forward goes through the first-token top layer
    torch.testing.assert_close(modeling.forward(classifier, batch).detach(), full, atol=1e-5, rtol=1e-5)


def test_other_heads_keep_their_full_top_layer(classifier):
    classifier.config.model_type = "xlnet"  # reads the last token: nothing may be cut
    assert firsttoken.top_layer(classifier) is None
    with torch.no_grad(), firsttoken.first_token_only(classifier):
        assert classifier.bert(**_batch()).last_hidden_state.shape[1] == 24


def test_dropout_draws_what_the_full_layer_draws(tiny_backbone):
    """With dropout on, the same seed gives the same logits and leaves the random stream where the full top layer
    leaves it: a seed's training run is the one it was before the shortcut."""
    model = modeling.build(str(tiny_backbone), {0: "a", 1: "b"}, dropout=0.3, attention_dropout=0.0).train()
    batch, out = _batch(), []
    for fast in (False, True):
        torch.manual_seed(7)
        with torch.no_grad(), firsttoken.first_token_only(model) if fast else torch.no_grad():
            out.append((model(**batch).logits, torch.rand(3)))
    (full, after_full), (fast, after_fast) = out
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(after_fast, after_full, atol=0, rtol=0)


def test_the_torch_engine_predicts_through_it(tiny_run, monkeypatch):
    from kornews import Classifier
    calls = []
    monkeypatch.setattr(firsttoken, "first_token_forward", lambda *a, **k: calls.append(1) or _original(*a, **k))
    clf = Classifier.load(tiny_run, calibrated=False)
    fast = clf.predict_proba(["서울 증시 마감", "축구 대표팀 승리"])
    assert calls
    monkeypatch.setattr(firsttoken, "top_layer", lambda model: None)  # the full top layer, for comparison
    np.testing.assert_allclose(clf.predict_proba(["서울 증시 마감", "축구 대표팀 승리"]), fast, atol=2e-2)
