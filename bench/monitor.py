"""How well does monitoring see what labels would show? Estimated against true accuracy, drift detection in a
stream, and what it costs.

    python bench/monitor.py --run RUN [--run OTHER[:ynat] ...] [--batches 20] [--batch-size 300]

For each run: its calibrated probabilities of knews8 test (320 articles, title + body) and of YNAT dev headlines
(9,107, another outlet and period) are computed once; true accuracy counts a YNAT headline right when the run's
topic maps to its YNAT topic (culture and entertain → 생활문화), as every YNAT figure here does. Mixtures: `--batches`
batches of `--batch-size` articles drawn at each YNAT share (0, 0.25, 0.5, 0.75, 1); the estimate (`stats.monitor`,
no embeddings) against the batch's truth, and how often its interval holds the truth. Stream: the server's window
(`serve.watch.Watch`, 500 articles, fed 16 at a time as a busy server's model calls) given knews8 test shuffled,
then YNAT headlines (the other way round for a run whose home is YNAT, `PATH:ynat`): how many articles until it
flags drift; and the home source alone, 10 shuffled passes: any flag is a false alarm. Cost: per 1,000 YNAT
headlines, classifying them, the window's figures, and `kornews monitor`'s embedding tests (me5-small, uncached).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TO_YNAT, machine, publish, table, yardsticks  # noqa: E402

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


def scored(run, ynat, test):
    """Per article of knews8 test then YNAT dev: calibrated probabilities, right or wrong, headline flag, length."""
    from kornews import Classifier
    clf = Classifier.load(run)
    probs = np.concatenate([clf.predict_proba(test), clf.predict_proba(ynat)])
    pred = np.array(clf.labels)[probs.argmax(1)]
    right = np.r_[pred[:len(test)] == test["label"].to_numpy(),
                  np.array([TO_YNAT.get(p) for p in pred[len(test):]]) == ynat["label"].to_numpy()]
    headline = np.r_[np.zeros(len(test), bool), np.ones(len(ynat), bool)]
    lengths = np.r_[test["title"].str.len() + test["body"].str.len(), ynat["title"].str.len()]
    return clf, probs, right, headline, lengths


def mixtures(ref, probs, right, headline, lengths, n_test, batches, size):
    from kornews.stats import monitor
    rng = np.random.default_rng(0)
    rows = []
    for share in SHARES:
        errors, covered, truths = [], 0, []
        for _ in range(batches):
            k = round(share * size)
            idx = np.r_[rng.choice(n_test, size - k, replace=size - k > n_test),
                        n_test + rng.choice(len(probs) - n_test, k, replace=False)]
            p = probs[idx]
            found, _ = monitor.assess(ref, p.argmax(1), p.max(1), lengths[idx],
                                      np.where(headline[idx], "headline", "article"))
            truth = right[idx].mean()
            truths.append(truth)
            errors.append(found.estimated_accuracy - truth)
            covered += found.interval[0] <= truth <= found.interval[1]
        rows.append((share, float(np.mean(truths)), float(np.mean(errors)), float(np.mean(np.abs(errors))),
                     covered / batches))
    return rows


def stream(ref, probs, headline, lengths, n_test, home="knews8", passes=10, step=16):
    """(articles after the switch until the window flags drift, per pass; false alarms on the home source alone):
    the home source is the run's own news (knews8 test; YNAT dev headlines for a run taught on YNAT), 320 articles a
    pass, then the other source."""
    from kornews.serve.watch import Watch
    rng = np.random.default_rng(1)
    delays, alarms = [], 0
    knews8, ynat = np.arange(n_test), np.arange(n_test, len(probs))
    own, other = (knews8, ynat) if home == "knews8" else (ynat, knews8)
    for _ in range(passes):
        order = rng.permutation(own)[:n_test]
        watch = Watch(ref)
        for start in range(0, len(order), step):  # the home source alone: any flag is a false alarm
            i = order[start:start + step]
            watch.add(probs[i], lengths[i], headline[i])
            alarms += watch.assess()["drift"]
        switched = rng.permutation(other)[:1000]
        delay = None
        for start in range(0, len(switched), step):
            i = switched[start:start + step]
            watch.add(probs[i], lengths[i], headline[i])
            if watch.assess()["drift"]:
                delay = start + len(i)
                break
        delays.append(delay)
    return delays, alarms


def costs(clf, ref, ynat):
    """Seconds per 1,000 YNAT headlines: classify, the window's figures, embed (uncached) + the embedding tests."""
    from kornews.commands.monitor import EMBEDDER
    from kornews.model import embedding
    from kornews.serve.watch import Watch
    sample = ynat.sample(1000, random_state=3)
    t = time.perf_counter()
    probs = clf.predict_proba(sample)
    classify = time.perf_counter() - t
    watch = Watch(ref, size=1000)
    watch.add(probs, sample["title"].str.len().to_numpy(), np.ones(1000, bool))
    t = time.perf_counter()
    watch.assess()
    figures = time.perf_counter() - t
    reference = embedding.embed(ref.texts, EMBEDDER)  # once per run
    t = time.perf_counter()
    vectors = embedding.embed(embedding.article_text(sample), EMBEDDER, use_cache=False)
    from kornews.stats import monitor
    monitor.domain_auc(reference, vectors), monitor.nearest_distance(reference, vectors)
    embedded = time.perf_counter() - t
    return classify, figures, embedded


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=300)
    ap.add_argument("--section", default="monitor")
    args = ap.parse_args()
    from kornews.commands.calibrate import reference
    started = time.time()
    ynat, test = yardsticks()
    mix_rows, stream_rows, cost_rows = [], [], []
    for given in args.run:
        run, _, home = given.partition(":")
        clf, probs, right, headline, lengths = scored(run, ynat, test)
        ref = reference(run, clf)
        name = Path(run).name if Path(run).name != "run" else "/".join(Path(run).parts[-3:-1])
        for share, truth, bias, mae, cover in mixtures(ref, probs, right, headline, lengths, len(test),
                                                       args.batches, args.batch_size):
            mix_rows.append([name, f"{share:.2f}", f"{truth:.3f}", f"{bias:+.3f}", f"{mae:.3f}", f"{cover:.0%}"])
            print(" | ".join(mix_rows[-1]), flush=True)
        delays, alarms = stream(ref, probs, headline, lengths, len(test), home or "knews8")
        found = [d for d in delays if d is not None]
        stream_rows.append([name, ref.source, home or "knews8", f"{len(found)} / {len(delays)}",
                            f"{np.median(found):.0f}" if found else "-", f"{max(found)}" if found else "-",
                            str(alarms)])
        print(" | ".join(stream_rows[-1]), flush=True)
        classify, figures, embedded = costs(clf, ref, ynat)
        cost_rows.append([name, f"{classify:.1f}", f"{figures:.2f}", f"{embedded:.1f}"])
        print(" | ".join(cost_rows[-1]), flush=True)
    command = f"python bench/monitor.py {' '.join(sys.argv[1:])}"
    text = "\n".join([
        "## Monitoring: estimated against true accuracy, drift in a stream, cost", "",
        f"`{command}` — {machine()}, {time.strftime('%Y-%m-%d')}; {(time.time() - started) / 60:.0f} minutes, one "
        "process.", "",
        f"Estimated accuracy (no labels, no embeddings) on {args.batches} batches of {args.batch_size} articles per "
        "share of YNAT dev headlines mixed into knews8 test articles; bias and mean absolute error in accuracy "
        "points (0.01 = one point); coverage: batches whose 95% interval holds the truth.", "",
        table(["run", "YNAT share", "true accuracy", "bias", "mean abs. error", "interval covers"], mix_rows), "",
        "Stream: the server's window (500 articles, 16 per model call) fed 320 articles of the run's home source "
        "shuffled, then the other source (knews8 test articles or YNAT dev headlines); 10 passes.", "",
        table(["run", "reference", "home source", "switches flagged", "median articles to flag", "most",
               "false alarms on the home source alone (10 passes x 20 checks)"], stream_rows), "",
        "Cost, seconds per 1,000 YNAT headlines:", "",
        table(["run", "classify", "window figures", "embedding tests (me5-small, uncached)"], cost_rows), "",
        "A run taught on YNAT (`--run PATH:ynat`) has the editor's held-out YNAT labels as its reference: its home "
        "is YNAT."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
