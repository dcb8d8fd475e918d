"""Batch prediction beyond one machine: Ray Data over an actor pool, each actor loading the run once.

    kornews predict RUN corpus.parquet --ray                 # a local Ray on this machine's cores
    kornews predict RUN corpus.parquet --ray auto            # the cluster this node belongs to
    kornews predict RUN corpus.parquet --ray ray://head:10001

The pool fills the cores it is given: actors × threads = the cluster's CPUs unless told otherwise (one thread per
actor by default), each actor's engine takes exactly its threads, so actors never oversubscribe a node, and the
articles go out in blocks small enough that every actor gets several. Output rows are those of the
single-process `predict`, in input order.
"""
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.core.errors import KornewsError
from kornews.inference.classifier import Classifier, predictions_frame

ORDER = "_kornews_order"  # the input position of each article, carried through Ray to restore the order


class _Predictor:
    """One Ray actor: the run loaded once, then one `predictions_frame` per batch."""

    def __init__(self, run, engine, threads, batch_size, min_confidence):
        # the pool is sized by the cores Ray has, so its actors run on the CPU, a GPU or not
        self.clf = Classifier.load(run, engine=engine, threads=threads, batch_size=batch_size, device="cpu")
        self.min_confidence = min_confidence

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        frame = predictions_frame(self.clf, batch.drop(columns=[ORDER]), min_confidence=self.min_confidence)
        frame[ORDER] = batch[ORDER].to_numpy()
        return frame


BLOCKS_PER_ACTOR = 4  # blocks of equal size, several per actor: one block of 256 and one of 64 left an actor idle


def plan(cpus: int, rows: int, actors: int | None = None, threads: int | None = None,
         max_rows: int = 256) -> tuple[int, int, int]:
    """(actors, threads per actor, rows per block) for `rows` articles on `cpus` cores: actors × threads = cpus
    unless either is given; blocks of at most `max_rows`, at least BLOCKS_PER_ACTOR per actor where rows allow."""
    if actors is not None and actors < 1 or threads is not None and threads < 1:
        raise KornewsError(f"--actors and --threads must be at least 1, got {actors} and {threads}")
    if threads is None:
        threads = max(1, cpus // actors) if actors else 1
    actors = actors or max(1, cpus // threads)
    block = max(1, min(max_rows, math.ceil(rows / (actors * BLOCKS_PER_ACTOR))))
    return actors, threads, block


def predict_dataset(run, frame: pd.DataFrame, *, address=None, actors=None, threads=None,
                    engine="auto", batch_size=32, rows_per_task=256, min_confidence=None, log=None) -> pd.DataFrame:
    """Predictions for normalized articles (`articles.read`), computed by Ray actors; the same frame as
    `classifier.predictions_frame`.

    `address`: None or "local" starts a private Ray instance on this machine (loopback only), anything else is
    passed to `ray.init` ("auto", "ray://host:10001"). `actors` and `threads` (per actor): see `plan`;
    `rows_per_task`: the largest block."""
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
        pool, threads, block = plan(cpus, len(frame), actors, threads, rows_per_task)
        if log is not None:
            log(f"ray: {pool} actors × {threads} threads on {cpus} CPUs, blocks of {block} articles")
        df = frame.reset_index(drop=True).assign(**{ORDER: np.arange(len(frame))})
        # blocks made here, in the driver: an all-to-all repartition would need task CPUs the actors hold
        blocks = [df.iloc[i:i + block] for i in range(0, len(df), block)]
        out = ray.data.from_pandas(blocks).map_batches(
            _Predictor, fn_constructor_kwargs={"run": str(Path(run).resolve()), "engine": engine,
                                               "threads": threads, "batch_size": batch_size,
                                               "min_confidence": min_confidence},
            batch_format="pandas", batch_size=block, compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=threads).to_pandas()
    finally:
        if started_here:
            ray.shutdown()
    return out.sort_values(ORDER).drop(columns=[ORDER]).reset_index(drop=True)
