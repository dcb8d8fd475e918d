"""`kornews export RUN [--int8]`: the run's classifier as an ONNX graph for ONNX Runtime, checked against PyTorch.

Every mode exports: modes 1-4 are plain classifiers (mode 4's cluster tokens live in the embedding table), mode 5
takes `cluster_ids` beside the token inputs. `--int8` quantises the weights dynamically (onnxruntime). The graph
goes to RUN/onnx/, with export.json recording what the check measured; `predict` then picks it up.
"""
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.core.files import atomic_dir
from kornews.data import articles
from kornews.inference import engines
from kornews.inference.classifier import Classifier
from kornews.model.firsttoken import first_token_only
from kornews.model.modeling import collate, hf
from kornews.training import config

SAMPLE = 64  # articles for the agreement check


class _Logits(torch.nn.Module):
    """The classifier with positional inputs and a bare logits output, as the exporter wants it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids, cluster_ids=None):
        extra = {"cluster_ids": cluster_ids} if cluster_ids is not None else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          **extra).logits


def sample_articles(run: Path, n: int = SAMPLE):
    """Up to `n` articles of the run's own training data, else the built-in examples."""
    try:
        cfg = config.read_run(run)
        return articles.read(cfg.train, mode=cfg.mode, columns=cfg.columns, labeled=False, encoding=cfg.encoding,
                             quiet=True).frame.head(n)
    except (KornewsError, OSError):
        return articles.EXAMPLE_ARTICLES


def export(run, int8: bool = False, log=print) -> dict:
    """Write RUN/onnx/ and return the check's numbers (agreement with PyTorch fp32, largest probability gap)."""
    run = rundir.require(run, f"{rundir.MODEL}/config.json")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise KornewsError(f"export needs onnx, onnxscript and onnxruntime: {engines.INSTALL_ONNX}") from None
    reference = Classifier.load(run, engine="torch-fp32", hybrid=False, calibrated=False)  # the graph is the encoder
    sample = reference.featurizer.with_clusters(reference.read(sample_articles(run), quiet=True).frame)
    features = reference.featurizer(sample)
    batch = collate(features, np.arange(min(2, len(features))), reference.featurizer.pad_id)
    names = ["input_ids", "attention_mask", "token_type_ids"] + ["cluster_ids"] * ("cluster_ids" in batch)
    dynamic = {name: {0: torch.export.Dim("batch")} | ({1: torch.export.Dim("seq")} if name != "cluster_ids" else {})
               for name in names}
    with atomic_dir(run / engines.ONNX_DIR) as tmp, tempfile.TemporaryDirectory() as work:
        fp32 = (tmp if not int8 else Path(work)) / engines.ONNX_FILES["onnx-fp32"]
        with torch.no_grad(), first_token_only(hf(reference.model)):  # the graph's top layer: row 0 only
            program = torch.onnx.export(_Logits(reference.model), tuple(batch[k] for k in names),
                                        input_names=names, output_names=["logits"], dynamo=True,
                                        dynamic_shapes=dynamic, verbose=False)
        program.save(str(fp32))
        target = fp32
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            target = tmp / engines.ONNX_FILES["onnx-int8"]
            # per-channel int8 weights for every MatMul; the embedding tables stay as they are (gathers)
            quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        onnx = Classifier(reference.featurizer, engines.OnnxEngine(target), reference.labels)
        expected, got = reference.predict_proba(sample), onnx.predict_proba(sample)
        check = {"engine": onnx.engine.name, "file": target.name, "articles": len(sample),
                 "agreement": float((expected.argmax(1) == got.argmax(1)).mean()),
                 "max_prob_diff": float(np.abs(expected - got).max()),
                 "bytes": target.stat().st_size}
        (tmp / "export.json").write_text(json.dumps(check, indent=2) + "\n", encoding="utf-8")
    log(f"exported {run / engines.ONNX_DIR / target.name} ({check['bytes'] / 2**20:.1f} MiB): "
        f"agrees with PyTorch on {check['agreement']:.1%} of {check['articles']} articles, "
        f"largest probability difference {check['max_prob_diff']:.2e}")
    return check
