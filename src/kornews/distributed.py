"""Batch prediction beyond one machine: Ray Data over an actor pool, each actor loading the run once.

    kornews predict RUN corpus.parquet --ray                 # a local Ray on this machine's cores
    kornews predict RUN corpus.parquet --ray auto            # the cluster this node belongs to
    kornews predict RUN corpus.parquet --ray ray://head:10001

Each actor takes `cpus_per_actor` cores and gives its engine exactly that many threads, so actors on one node
never oversubscribe it. Output rows are those of the single-process `predict`, in input order.
"""
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .classifier import Classifier, predictions_frame
from .errors import KornewsError

ORDER = "_kornews_order"  # the input position of each article, carried through Ray to restore the order


class _Predictor:
    """One Ray actor: the run loaded once, then one `predictions_frame` per batch."""

    def __init__(self, run, engine, threads, batch_size, min_confidence):
        self.clf = Classifier.load(run, engine=engine, threads=threads, batch_size=batch_size)
        self.min_confidence = min_confidence

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        frame = predictions_frame(self.clf, batch.drop(columns=[ORDER]), min_confidence=self.min_confidence)
        frame[ORDER] = batch[ORDER].to_numpy()
        return frame


def predict_dataset(run, frame: pd.DataFrame, *, address=None, actors=None, cpus_per_actor=1,
                    engine="auto", batch_size=32, rows_per_task=256, min_confidence=None) -> pd.DataFrame:
    """Predictions for normalized articles (`articles.read`), computed by Ray actors; the same frame as
    `classifier.predictions_frame`.

    `address`: None or "local" starts a private Ray instance on this machine (loopback only), anything else is
    passed to `ray.init` ("auto", "ray://host:10001"). `actors`: the pool size (default: as many as the cluster's
    CPUs allow at `cpus_per_actor` each)."""
    if address in (None, "local"):
        # a private Ray stays on loopback: with this set (before Ray is imported) Ray binds 127.0.0.1, as it does on
        # a laptop, instead of the machine's network address
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise KornewsError("--ray needs Ray (pip install 'kornews[ray]')") from None
    if frame.empty:
        raise KornewsError("no articles to predict")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pool = actors or max(1, cpus // cpus_per_actor)
        df = frame.reset_index(drop=True).assign(**{ORDER: np.arange(len(frame))})
        # blocks made here, in the driver: an all-to-all repartition would need task CPUs the actors hold
        blocks = [df.iloc[i:i + rows_per_task] for i in range(0, len(df), rows_per_task)]
        out = ray.data.from_pandas(blocks).map_batches(
            _Predictor, fn_constructor_kwargs={"run": str(Path(run).resolve()), "engine": engine,
                                               "threads": cpus_per_actor, "batch_size": batch_size,
                                               "min_confidence": min_confidence},
            batch_format="pandas", batch_size=rows_per_task, compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=cpus_per_actor).to_pandas()
    finally:
        if started_here:
            ray.shutdown()
    return out.sort_values(ORDER).drop(columns=[ORDER]).reset_index(drop=True)
