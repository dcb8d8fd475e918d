"""engines: the choice among what a run has, and what auto takes where the CPU lacks bf16."""
import shutil
import sys

import pytest

from kornews import Classifier
from kornews.cli import main
from kornews.commands.export import export
from kornews.core import runtime
from kornews.core.errors import KornewsError
from kornews.inference import engines


def test_auto_takes_the_graph_where_the_cpu_lacks_bf16(tiny_runs, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs(3), run)
    assert main(["export", str(run)]) == 0
    monkeypatch.setattr(runtime, "bf16_supported", lambda: False)
    assert engines.available(run) == ["onnx-fp32", "torch-fp32"]
    assert Classifier.load(run).engine.name == "onnx-fp32"
    monkeypatch.setattr(runtime, "bf16_supported", lambda: True)
    assert Classifier.load(run).engine.name == "torch-bf16"
    # onnxruntime is an extra: without it auto falls back to torch and asking for the graph says what to install
    monkeypatch.setattr(runtime, "bf16_supported", lambda: False)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert Classifier.load(run).engine.name == "torch-fp32"
    with pytest.raises(KornewsError, match=r"the onnx engine needs onnxruntime: pip install 'kornews\[onnx\]'"):
        Classifier.load(run, engine="onnx")
    with pytest.raises(KornewsError, match=r"export needs onnx, onnxscript and onnxruntime: pip install"):
        export(run)


def test_engine_choice(tiny_runs):
    run = tiny_runs(3)
    expected = "torch-bf16" if runtime.bf16_supported() else "torch-fp32"
    assert Classifier.load(run).engine.name == expected
    assert Classifier.load(run, engine="torch").engine.name == expected
    assert Classifier.load(run, engine="torch-fp32").engine.name == "torch-fp32"
    with pytest.raises(KornewsError, match="engine 'onnx' is not available for this run .*kornews export RUN"):
        Classifier.load(run, engine="onnx")
    with pytest.raises(KornewsError, match="unknown engine 'tpu'"):
        Classifier.load(run, engine="tpu")
