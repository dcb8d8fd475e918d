"""`kornews soup`: the mean of runs that differ only in seed, as a run directory of its own."""
import json

import pytest
import torch
from safetensors.torch import load_file

from kornews.cli import main
from kornews.commands.soup import soup_run
from kornews.core.errors import KornewsError
from kornews.data import folds
from kornews.inference.classifier import Classifier
from kornews.training import loop, setup


@pytest.fixture(scope="module")
def members(tiny_cfg, tmp_path_factory):
    """Two one-epoch tiny runs of seeds 1 and 2 sharing their validation split and head init, a third that does
    not, and a run of seed 7 trained without split_seed and init_seed (so it drew both with 7, as the first two)."""
    root = tmp_path_factory.mktemp("soup")
    runs = {}
    for name, over in (("a", {"seed": 1, "split_seed": 7, "init_seed": 7}),
                       ("b", {"seed": 2, "split_seed": 7, "init_seed": 7}),
                       ("loose", {"seed": 3}),
                       ("seven", {"seed": 7})):
        loop.train(tiny_cfg(epochs=1, **over), root / name, progress=False, log=lambda s: None)
        runs[name] = root / name
    return runs


def test_the_soup_is_the_mean_of_its_members_and_a_run_like_any(members, tmp_path):
    out = soup_run([members["a"], members["b"]], tmp_path / "soup", log=lambda s: None)
    weights = [load_file(str(r / "model" / "model.safetensors")) for r in (members["a"], members["b"], out)]
    name = next(k for k in weights[0] if "encoder.layer.1." in k and k.endswith("dense.weight"))
    a, b, mean = (w[name].float() for w in weights)
    assert not torch.equal(a, b)  # the members did move apart
    assert torch.allclose(mean, (a + b) / 2, atol=1e-2) and weights[2][name].dtype == weights[0][name].dtype
    soup = json.loads((out / "soup.json").read_text())
    assert soup["seeds"] == [1, 2] and soup["members"] == [str(members["a"]), str(members["b"])]
    assert (out / "calibration.json").is_file() and "## Model soup" in (out / "README.md").read_text()
    probs = Classifier.load(out).predict_proba(["손흥민 시즌 10호골", "코스피 상승"])
    assert probs.shape == (2, 8)


def test_members_share_validation_articles_and_head(tiny_cfg):
    import pandas as pd
    df = pd.DataFrame({"label": list("abcd") * 10, "id": [str(i) for i in range(40)]})
    split = [set(folds.validation_split(tiny_cfg(seed=s, split_seed=7), df)[1].id) for s in (1, 2)]
    assert split[0] == split[1] != set(folds.validation_split(tiny_cfg(seed=1), df)[1].id)
    heads = [setup.prepare(tiny_cfg(seed=s, init_seed=7)).model.classifier.weight for s in (1, 2)]
    assert torch.equal(heads[0], heads[1])
    # a run without split_seed and init_seed draws both with its seed: seed 7 alone is the same start
    assert set(folds.validation_split(tiny_cfg(seed=7), df)[1].id) == split[0]
    assert torch.equal(setup.prepare(tiny_cfg(seed=7)).model.classifier.weight, heads[0])


def test_a_run_whose_seed_gave_the_shared_split_and_head_is_a_member(members, tmp_path):
    out = soup_run([members["seven"], members["a"], members["b"]], tmp_path / "soup", log=lambda s: None)
    assert json.loads((out / "soup.json").read_text())["seeds"] == [7, 1, 2]


@pytest.mark.parametrize("pick, message", [
    (["a"], "a soup needs at least two runs"),
    (["a", "a"], "runs of the same seed"),
    (["a", "loose"], "differs from .* in init_seed, split_seed"),
])
def test_runs_that_cannot_be_averaged_are_refused(members, tmp_path, pick, message):
    with pytest.raises(KornewsError, match=message):
        soup_run([members[p] for p in pick], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_unset_seeds_are_named_with_the_fix(members, tiny_cfg, tmp_path):
    other = tmp_path / "other"
    loop.train(tiny_cfg(epochs=1, seed=4), other, progress=False, log=lambda s: None)
    with pytest.raises(KornewsError, match=r"in init_seed, split_seed \(a run trained without split_seed or "
                                           r"init_seed uses its seed for it\).*--split_seed=N --init_seed=N"):
        soup_run([members["loose"], other], tmp_path / "soup")


def test_cli_refuses_an_existing_out(members, tmp_path, capsys):
    (tmp_path / "soup").mkdir()
    (tmp_path / "soup" / "keep.txt").write_text("mine")
    assert main(["soup", str(members["a"]), str(members["b"]), "--out", str(tmp_path / "soup")]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "soup" / "keep.txt").read_text() == "mine"
