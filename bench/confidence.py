"""Confidence a user can act on, in and out of domain: a knews8 run's calibration error before and after its
temperature (fitted on its validation split), and what a review threshold keeps, on knews8 test (in domain) and
on KLUE YNAT dev headlines (another outlet and period; knews8 topics summed into YNAT's: culture + entertain →
생활문화).

    python bench/confidence.py --run RUN        # a finished knews8 run (e.g. the one `kornews demo` leaves)

The run is copied; the copy is calibrated (`kornews calibrate`), the run itself is left as it was.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TO_YNAT, machine, publish, table  # noqa: E402



def collapse(probs: np.ndarray, labels: list[str], to: dict) -> tuple[np.ndarray, list[str]]:
    """Probabilities over the target's topics: each source topic's probability added to the one it maps to."""
    targets = sorted(set(to.values()))
    out = np.zeros((len(probs), len(targets)))
    for j, name in enumerate(labels):
        out[:, targets.index(to[name])] += probs[:, j]
    return out, targets


def row(name, scores, y):
    from kornews.calibration import accuracy_coverage, ece
    raw, cal = scores
    table_ = accuracy_coverage(cal, y)
    at = table_["at_accuracy"]
    keep = [f"{at[k]['coverage']:.1%} (p ≥ {at[k]['threshold']:.2f})" if at[k] else "none" for k in ("0.90", "0.95")]
    return [name, len(y), f"{np.mean(cal.argmax(1) == y):.4f}", f"{raw.max(1).mean():.3f} → {cal.max(1).mean():.3f}",
            f"{ece(raw, y):.4f} → **{ece(cal, y):.4f}**", *keep, f"{table_['at_coverage']['0.80']:.4f}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    args = ap.parse_args()
    from kornews import Classifier, articles
    from kornews.tasks.calibrate import calibrate_run
    work = Path(tempfile.mkdtemp(prefix="kornews-confidence-"))
    run = work / "run"
    shutil.copytree(args.run, run)
    fitted = calibrate_run(run)
    clf = Classifier.load(run)
    rows, started = [], time.time()
    test = articles.read("knews8:test", mode=3).frame
    s = clf.scores(test)
    rows.append(row("knews8 test (in domain)", (s.raw, s.probs), np.array([clf.labels.index(x) for x in test.label])))
    ynat = articles.read("ynat:dev", mode=2).frame.assign(body="")
    s = clf.scores(ynat)
    (raw, targets), (cal, _) = collapse(s.raw, clf.labels, TO_YNAT), collapse(s.probs, clf.labels, TO_YNAT)
    rows.append(row("YNAT dev headlines (other outlet)", (raw, cal), np.array([targets.index(x) for x in ynat.label])))
    text = "\n".join([
        "## Confidence: calibration and the review threshold", "",
        f"`python bench/confidence.py --run RUN` on the run `kornews demo` left — {machine()}, "
        f"{time.strftime('%Y-%m-%d')}; {time.time() - started:.0f} s of prediction. Temperature "
        f"{fitted.temperature:.3f} fitted on the run's {fitted.fitted_on} (calibration error there "
        f"{fitted.ece_before:.4f} → {fitted.ece_after:.4f}); its default review threshold "
        f"{fitted.min_confidence} keeps 95% accuracy on that split.", "",
        table(["articles", "n", "accuracy", "mean top probability raw → calibrated", "ECE (10 bins) raw → calibrated",
               "kept at ≥ 90% accuracy", "kept at ≥ 95% accuracy", "accuracy of the surest 80%"], rows), "",
        "Kept: the largest share of articles, surest first, whose accuracy reaches the target, and the threshold on "
        "the calibrated top probability that keeps them (chosen here on the evaluated set itself, to show what a "
        "threshold can buy; `kornews calibrate` chooses the run's default on validation)."])
    publish("confidence", text)


if __name__ == "__main__":
    main()
