"""Batch prediction on Ray: a local Ray cluster on this machine (2 CPUs, loopback) gives single-process output."""
import os

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from kornews import Classifier
from kornews.data import articles
from kornews.inference.classifier import predictions_frame

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keeps the test's Ray on 127.0.0.1 (see distributed)
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'kornews[ray]')")
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


@pytest.mark.slow  # a Ray cluster started and stopped: 17 s
def test_ray_predictions_equal_single_process(tiny_runs, tmp_path):
    from kornews.inference.distributed import predict_dataset
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


@pytest.mark.parametrize("cpus, rows, actors, threads, expected", [
    (2, 320, None, None, (2, 1, 40)),      # every core an actor, each with several equal blocks
    (2, 320, 1, None, (1, 2, 80)),         # one actor takes the cores
    (16, 320, None, 4, (4, 4, 20)),
    (16, 100_000, None, None, (16, 1, 256)),  # blocks never above the largest
    (2, 3, None, None, (2, 1, 1)),
    (1, 10, 4, None, (4, 1, 1)),            # told otherwise: more actors than cores, one thread each
])
def test_the_pool_fills_the_cores_it_is_given(cpus, rows, actors, threads, expected):
    from kornews.inference.distributed import plan
    assert plan(cpus, rows, actors, threads) == expected
    pool, per_actor, block = expected
    assert -(-rows // block) >= min(rows, pool * 2)  # every actor can get work


def test_a_bad_pool_size_is_one_line():
    from kornews.core.errors import KornewsError
    from kornews.inference.distributed import plan
    with pytest.raises(KornewsError, match="at least 1"):
        plan(2, 10, actors=0)
