"""Inference engines: a saved classifier's forward pass, run as fast as this machine allows.

`torch`: the saved model in bf16 where the CPU has bf16 matrix units (fp32 elsewhere), on a CUDA GPU where torch
sees one (bf16 there); `onnx`: the graph `kornews export` wrote into RUN/onnx/ (fp32, or dynamically quantised
int8), run by ONNX Runtime on the CPU. Every engine maps one collated batch to window logits; batching, length
sorting and the per-article mean are the model module's, so engines differ only in arithmetic.
"""
from pathlib import Path

import numpy as np

from kornews.core import runtime
from kornews.core.errors import KornewsError

ONNX_DIR = "onnx"
ONNX_FILES = {"onnx-int8": "model.int8.onnx", "onnx-fp32": "model.onnx"}
CHOICES = ("auto", "torch", "torch-bf16", "torch-fp32", "onnx", "onnx-int8", "onnx-fp32")
# "auto" takes the first of these that a run has here. Measured (bench/inference.py, docs/benchmarks.md): torch-bf16
# 33.8 articles/s, onnx-int8 27.6 (and 0.9 points less accurate), onnx-fp32 17.2, torch-fp32 12.9. torch-bf16 exists
# only where the CPU has bf16 units; elsewhere an exported graph wins, int8 if the user asked for int8.
PREFERENCE = ("torch-bf16", "onnx-int8", "onnx-fp32", "torch-fp32")
INSTALL_ONNX = "pip install 'kornews[onnx]'"  # an extra: the demo and the torch engine never need it


def onnx_installed() -> bool:
    import importlib.util
    return importlib.util.find_spec("onnxruntime") is not None


class TorchEngine:
    def __init__(self, model_dir, precision: str = "auto", threads: int | None = None, device: str = "auto"):
        import torch  # here, not at import: the CLI lists engines without loading torch

        from kornews.model import firsttoken, modeling
        if threads:
            torch.set_num_threads(threads)
        self.device = runtime.device(device)
        self.bf16 = runtime.use_bf16(precision, self.device)
        self.model = modeling.load(model_dir, torch.bfloat16 if self.bf16 else torch.float32).to(self.device)
        self.name = "torch-bf16" if self.bf16 else "torch-fp32"
        self._inference, self._to = torch.inference_mode, modeling.to_device
        self._first_token, self.inner = firsttoken.first_token_only, modeling.hf(self.model)

    def __call__(self, batch: dict) -> np.ndarray:
        with self._inference(), self._first_token(self.inner):
            return self.model(**self._to(batch, self.device)).logits.float().cpu().numpy()


class OnnxEngine:
    def __init__(self, path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise KornewsError(f"the onnx engine needs onnxruntime: {INSTALL_ONNX}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or runtime.threads_for(1)
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors for a damaged file
            raise KornewsError(f"{path}: ONNX model cannot be loaded ({str(e).splitlines()[0]})") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.name = next(k for k, v in ONNX_FILES.items() if v == Path(path).name)

    def __call__(self, batch: dict) -> np.ndarray:
        return self.session.run(["logits"], {k: batch[k].numpy() for k in self.inputs})[0]


def available(run_dir, device: str = "auto") -> list[str]:
    """Engines this run can use here, on `device`, fastest first."""
    onnx = Path(run_dir) / ONNX_DIR
    have = {name for name, file in ONNX_FILES.items() if (onnx / file).is_file()}
    have |= {"torch-bf16"} if runtime.use_bf16("auto", runtime.device(device)) else set()
    have |= {"torch-fp32"}
    return [name for name in PREFERENCE if name in have]


def load(run_dir, model_dir, choice: str = "auto", threads: int | None = None, device: str = "auto"):
    """The engine named by `choice` (see CHOICES) for a run; `run_dir` None means a bare model directory. `device`:
    where a torch engine runs (runtime.device); ONNX graphs run on the CPU."""
    if choice not in CHOICES:
        raise KornewsError(f"unknown engine {choice!r}: choose {', '.join(CHOICES)}")
    have = available(run_dir if run_dir is not None else model_dir, device)
    wanted = [n for n in have if choice == "auto" or n == choice or n.startswith(choice + "-")]
    if choice == "auto" and not onnx_installed():  # a graph this install cannot run is not "the fastest it has"
        wanted = [n for n in wanted if not n.startswith("onnx")]
    if choice == "torch-bf16" and "torch-bf16" not in have:
        wanted = ["torch-bf16"]  # asked for explicitly: runs, slowly, without bf16 units
    if not wanted:
        raise KornewsError(f"engine {choice!r} is not available for this run (available: {', '.join(have)}); "
                           f"write an ONNX graph with: kornews export RUN" + (" --int8" if "int8" in choice else ""))
    name = wanted[0]
    if name.startswith("onnx"):
        return OnnxEngine(Path(run_dir) / ONNX_DIR / ONNX_FILES[name], threads)
    return TorchEngine(model_dir, "bf16" if name == "torch-bf16" else "fp32", threads, device)
