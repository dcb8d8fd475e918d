"""`kornews predict --ray` beside one process on the same machine, and how the rate grows with actors.

    python bench/ray_predict.py --run RUN [--articles 1600] [--pools 1x2,2x1]

The articles: knews8 train + test (title + body, the run's own input), the first `--articles` of them. One
process: `Classifier.load` + `predictions_frame` (loading included). Ray: a private local Ray started once (its
start is not counted), then `predict_dataset` with each pool (actors × threads per actor; actor start and model
loading included, as a user of `--ray` waits for them). Every configuration runs alone, in turn; the predictions
of each are checked equal to the one process's, in the same order.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish, section  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--articles", type=int, default=1600)
    ap.add_argument("--pools", default="1x1,1x2,2x1", help="actors x threads, comma-separated")
    args = ap.parse_args()
    import os
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import pandas as pd
    import ray
    from kornews import Classifier, articles, runtime
    from kornews.classifier import predictions_frame
    from kornews.distributed import predict_dataset
    spec = Classifier.load(args.run).spec
    frame = pd.concat([articles.read(f"knews8:{s}", mode=spec.mode, labeled=False, quiet=True).frame
                       for s in ("train", "test")], ignore_index=True).head(args.articles)
    n = len(frame)
    start = time.perf_counter()
    expected = predictions_frame(Classifier.load(args.run), frame)
    single = time.perf_counter() - start
    rows = [["one process (all cores)", f"{single:.1f}", f"{n / single:.1f}", "1.00x", "-"]]
    print(rows[-1], flush=True)
    ray.init(num_cpus=runtime.cores(), include_dashboard=False, log_to_driver=False)
    try:
        for pool in args.pools.split(","):
            actors, threads = (int(x) for x in pool.split("x"))
            start = time.perf_counter()
            out = predict_dataset(args.run, frame, actors=actors, threads=threads)
            seconds = time.perf_counter() - start
            same = out["pred"].tolist() == expected["pred"].tolist() and out["id"].tolist() == expected["id"].tolist()
            rows.append([f"--ray, {actors} actor(s) × {threads} thread(s)", f"{seconds:.1f}", f"{n / seconds:.1f}",
                         f"{single / seconds:.2f}x", "yes" if same else "NO"])
            print(rows[-1], flush=True)
    finally:
        ray.shutdown()
    text = section(
        "Batch prediction with Ray against one process",
        f"`python bench/ray_predict.py {' '.join(sys.argv[1:])}` — {machine()}, {runtime.cores()} cores for Ray, "
        f"{time.strftime('%Y-%m-%d')}; {n} knews8 articles (train + test, title + body).",
        ["how", "seconds (loading included)", "articles/s", "vs one process", "same predictions, same order"], rows,
        "Without `--actors`/`--threads`, `--ray` sizes its pool as actors × threads = the cluster's CPUs, one thread "
        "each (`distributed.plan`); blocks are cut so each actor gets several of equal size.")
    publish("ray", text)


if __name__ == "__main__":
    main()
