"""export + engine: the ONNX graph of every mode agrees with PyTorch, int8 exports, `auto` picks what the run has."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED

from kornews import Classifier
from kornews.cli import main
from kornews.core.errors import KornewsError
from kornews.inference import engines
from kornews.model import firsttoken

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


def _articles(slices):
    df = pd.read_csv(slices / "test.csv", dtype=str)
    return [{"title": t, "body": b} for t, b in zip(df.title, df.cleanBody)]


@pytest.mark.parametrize("mode", [3, 4, 5])
def test_onnx_agrees_with_pytorch(mode, tiny_runs, slices, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs(mode), run)
    assert main(["export", str(run)]) == 0
    assert "agrees with PyTorch on 100.0%" in capsys.readouterr().out
    check = json.loads((run / "onnx" / "export.json").read_text())
    assert check["engine"] == "onnx-fp32" and check["agreement"] == 1.0 and check["max_prob_diff"] < 1e-4
    assert "onnx-fp32" in engines.available(run)
    onnx = Classifier.load(run, engine="onnx")
    assert onnx.engine.name == "onnx-fp32" and onnx.model is None
    torch_fp32 = Classifier.load(run, engine="torch-fp32")
    articles = _articles(slices)
    np.testing.assert_allclose(onnx.predict_proba(articles), torch_fp32.predict_proba(articles), atol=1e-4)
    if mode == 5:  # the cluster vector is an input of the graph, and it matters
        assert "cluster_ids" in onnx.engine.inputs
        df = onnx.read(articles[:4]).frame
        a, b = (onnx.predict_proba(df.assign(cluster=c)) for c in (0, 1))
        assert not np.allclose(a, b, atol=1e-6)


def test_int8_export_runs_and_is_chosen(tiny_runs, slices, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs(3), run)
    traced, export = [], torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: traced.append(firsttoken._state.on) or export(*a, **k))
    assert main(["export", str(run), "--int8"]) == 0
    assert traced == [True]  # the graph's top layer is traced for the first token only
    check = json.loads((run / "onnx" / "export.json").read_text())
    assert check["engine"] == "onnx-int8" and check["file"] == "model.int8.onnx"
    assert check["agreement"] >= 0.9 and check["max_prob_diff"] < 0.1
    assert "onnx-int8" in engines.available(run)
    clf = Classifier.load(run, engine="onnx")
    assert clf.engine.name == "onnx-int8"
    probs = clf.predict_proba(_articles(slices))
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    # asking for what the run lacks names what it has
    with pytest.raises(KornewsError, match="engine 'onnx-fp32' is not available for this run"):
        Classifier.load(run, engine="onnx-fp32")


