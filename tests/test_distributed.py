"""Batch prediction on Ray: a local Ray cluster on this machine (2 CPUs, loopback) gives single-process output."""
import os

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from kornews import Classifier, articles
from kornews.classifier import predictions_frame

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keeps the test's Ray on 127.0.0.1 (see distributed)
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'kornews[ray]')")
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


def test_ray_predictions_equal_single_process(tiny_runs, tmp_path):
    from kornews.distributed import predict_dataset
    raw = pd.read_csv(SHARED / "train.csv", dtype=str, keep_default_na=False).sample(300, random_state=1)
    raw["cleanBody"] = raw["cleanBody"].str[:400]
    frame = articles.read(raw, mode=3, labeled=False).frame
    run = tiny_runs(3)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    try:
        out = predict_dataset(run, frame, engine="torch-fp32", rows_per_task=64)
    finally:
        ray.shutdown()
    expected = predictions_frame(Classifier.load(run, engine="torch-fp32"), frame)
    assert out["id"].tolist() == frame["id"].tolist() == expected["id"].tolist()  # input order
    assert out["pred"].tolist() == expected["pred"].tolist()
    probs = [c for c in expected.columns if c.startswith("p_")]
    np.testing.assert_allclose(out[probs].to_numpy(float), expected[probs].to_numpy(float), atol=1e-5)
