"""The moving average of the weights: its arithmetic, the swap, its checkpoint, and a run that keeps it."""
import json

import numpy as np
import pytest
import torch

from kornews.core.errors import KornewsError
from kornews.model import modeling
from kornews.training import config, loop, setup
from kornews.training.ema import Ema


def _model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    model[0].requires_grad_(False)  # frozen: never averaged
    return model


def test_the_average_follows_the_weights_with_a_warm_start():
    model = _model()
    w0 = model[1].weight.detach().clone()
    ema = Ema(model, decay=0.9)
    assert len(ema.shadow) == 2  # the trainable layer's weight and bias only
    with torch.no_grad():
        model[1].weight.add_(1.0)
    ema.update()  # first decay min(0.9, 1/10) = 0.1: the average moves 90% of the way
    torch.testing.assert_close(ema.shadow[0], w0 + 0.9)
    with torch.no_grad():
        model[1].weight.add_(1.0)
    ema.update()  # then min(0.9, 2/11)
    d = 2 / 11
    torch.testing.assert_close(ema.shadow[0], d * (w0 + 0.9) + (1 - d) * (w0 + 2.0))
    for _ in range(80):
        ema.update()
    assert ema.updates == 82
    assert (ema.shadow[0] - (w0 + 2.0)).abs().max() < 0.01  # weights held still: the average reaches them
    before = ema.shadow[0].clone()
    with torch.no_grad():
        model[1].weight.add_(1.0)
    ema.update()  # past the warm start the decay is 0.9 itself: a tenth of the way
    torch.testing.assert_close(ema.shadow[0], before + 0.1 * (w0 + 3.0 - before))


def test_applied_swaps_the_average_in_and_back():
    model = _model()
    ema = Ema(model, decay=0.5)
    with torch.no_grad():
        model[1].weight.fill_(3.0)
    ema.update()
    raw = model[1].weight.detach().clone()
    with ema.applied():
        torch.testing.assert_close(model[1].weight, ema.shadow[0])
        assert not torch.equal(model[1].weight, raw)
    torch.testing.assert_close(model[1].weight, raw)
    with pytest.raises(RuntimeError), ema.applied():  # an error inside still puts the raw weights back
        raise RuntimeError("boom")
    torch.testing.assert_close(model[1].weight, raw)


def test_checkpoint_round_trip_and_a_mismatch():
    a = Ema(_model(), 0.9)
    with torch.no_grad():
        a.params[0].add_(1.0)
    a.update()
    b = Ema(_model(), 0.9)
    b.load_state_dict(a.state_dict())
    assert b.updates == 1 and all(torch.equal(x, y) for x, y in zip(a.shadow, b.shadow))
    with pytest.raises(ValueError, match="averages 2 tensors, the model trains 4"):
        Ema(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2)), 0.9).load_state_dict(a.state_dict())


def test_a_run_scores_and_keeps_the_average(tiny_cfg, tmp_path):
    cfg = tiny_cfg(epochs=2, test=None, ema=0.9)
    final = loop.train(cfg, tmp_path / "ema", progress=False, log=lambda s: None)
    plain = loop.train(tiny_cfg(epochs=2, test=None), tmp_path / "plain", progress=False, log=lambda s: None)
    assert final["val_loss"] != plain["val_loss"]
    # the saved model is the one validation scored: its loss on the validation split is the recorded one
    p = setup.prepare(cfg)
    model = modeling.load(tmp_path / "ema" / "model")
    loss, acc = loop.scores(modeling.doc_logits(model, p.val, p.pad_id, 8), p.val_y)
    assert abs(loss - final["val_loss"]) < 0.02  # bf16 on disk
    assert json.loads((tmp_path / "ema" / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1
    assert np.isfinite(loss) and 0 <= acc <= 1


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_ema_outside_its_range_is_one_line(value):
    with pytest.raises(KornewsError, match=r"ema must be in \[0, 1\)"):
        config.load(base={"train": "x", "ema": value})
