"""Confidence a user can act on, in and out of domain: a knews8 run's calibration error before and after its
temperature (fitted on its validation split), and what a review threshold keeps, on knews8 test (in domain) and
on KLUE YNAT dev headlines (another outlet and period; knews8 topics summed into YNAT's: culture + entertain →
생활문화).

    python bench/confidence.py --run RUN [--more RUN ...]

RUN: a finished knews8 run (e.g. the one `kornews demo` leaves); --more: other runs of the recipe (other seeds),
whose calibration errors are added (knews8 test: one temperature and a temperature per topic, with the accuracy
of each; YNAT dev: the articles' temperature and the headline temperature), with the mean and sd over all of them:
on 320 articles one run's error moves by about as much as the target's margin. Runs are copied; the copies are
calibrated (`kornews calibrate`), the runs themselves are left as they were.
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


def class_tempered(probs: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    z = np.log(np.clip(probs, 1e-12, None)) / temperatures
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def class_temperatures(probs: np.ndarray, y) -> np.ndarray:
    """The issue's option: a temperature per topic (log p_c / T_c), fitted by log-loss on the same articles as the
    run's one temperature; measured here against it before any run gets it."""
    from scipy.optimize import minimize

    from kornews.stats.confidence import nll
    found = minimize(lambda log_t: nll(class_tempered(probs, np.exp(log_t)), y), np.zeros(probs.shape[1]),
                     method="L-BFGS-B", bounds=[(-3.0, 3.0)] * probs.shape[1])
    return np.exp(found.x)


def validation(run, clf):
    """The run's validation articles (the ones its temperature was fitted on), raw probabilities and labels."""
    from kornews.data import articles
    from kornews.data.folds import validation_split
    from kornews.training import config
    cfg = config.read_run(run)
    df = validation_split(cfg, articles.read(cfg.train, mode=cfg.mode, columns=cfg.columns, quiet=True).frame)[1]
    return clf.scores(df).raw, np.array([clf.labels.index(x) for x in df.label])


def row(name, scores, y):
    from kornews.stats.confidence import accuracy_coverage, ece
    raw, cal = scores
    table_ = accuracy_coverage(cal, y)
    at = table_["at_accuracy"]
    keep = [f"{at[k]['coverage']:.1%} (p ≥ {at[k]['threshold']:.2f})" if at[k] else "none" for k in ("0.90", "0.95")]
    return [name, len(y), f"{np.mean(cal.argmax(1) == y):.4f}", f"{raw.max(1).mean():.3f} → {cal.max(1).mean():.3f}",
            f"{ece(raw, y):.4f} → **{ece(cal, y):.4f}**", *keep, f"{table_['at_coverage']['0.80']:.4f}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--more", nargs="*", default=[])
    args = ap.parse_args()
    from kornews import Classifier
    from kornews.commands.calibrate import calibrate_run
    from kornews.data import articles
    from kornews.stats.confidence import ece, ece_floor, tempered
    work = Path(tempfile.mkdtemp(prefix="kornews-confidence-"))
    rows, started = [], time.time()
    test = articles.read("knews8:test", mode=3).frame
    ynat = articles.read("ynat:dev", mode=2).frame.assign(body="")
    errors, floors = [], []  # per run: name, temperatures, knews8 test ECEs and accuracies, YNAT dev ECEs
    for k, source in enumerate([args.run, *args.more]):
        run = work / f"run{k}"
        shutil.copytree(source, run)
        # this table compares temperatures (one, per topic, headlines'); top-label scaling: bench/calibration_cv.py
        fitted, clf = calibrate_run(run, method="temperature"), Classifier.load(run)
        s = clf.scores(test)
        y = np.array([clf.labels.index(x) for x in test.label])
        h = clf.scores(ynat)
        (raw, targets), (cal, _) = collapse(h.raw, clf.labels, TO_YNAT), collapse(h.probs, clf.labels, TO_YNAT)
        one, _ = collapse(tempered(h.raw, fitted.temperature), clf.labels, TO_YNAT)
        y_ynat = np.array([targets.index(x) for x in ynat.label])
        per_class = class_tempered(s.raw, class_temperatures(*validation(run, clf)))
        errors.append((Path(source).name, fitted.temperature, fitted.headline_temperature, ece(s.raw, y),
                       ece(s.probs, y), ece(per_class, y), np.mean(s.raw.argmax(1) == y),
                       np.mean(per_class.argmax(1) == y), ece(raw, y_ynat), ece(one, y_ynat), ece(cal, y_ynat)))
        floors.append(ece_floor(s.probs))
        if k == 0:  # the first run's is the table below; the others add their errors only
            head = fitted
            rows.append(row("knews8 test (in domain)", (s.raw, s.probs), y))
            rows.append(row("YNAT dev headlines, the articles' temperature", (raw, one), y_ynat))
            rows.append(row("YNAT dev headlines, **the headline temperature**", (raw, cal), y_ynat))
    fitted = head
    text = "\n".join([
        "## Confidence: calibration and the review threshold", "",
        f"`python bench/confidence.py {' '.join(sys.argv[1:])}` (the first run's table below) — "
        f"{machine()}, {time.strftime('%Y-%m-%d')}; {time.time() - started:.0f} s of calibration and prediction. "
        f"Temperature "
        f"{fitted.temperature:.3f} fitted on the run's {fitted.fitted_on} (calibration error there "
        f"{fitted.ece_before:.4f} → {fitted.ece_after:.4f}); its default review threshold "
        f"{fitted.min_confidence} keeps 95% accuracy on that split. Headline temperature "
        f"{fitted.headline_temperature:.3f}, fitted on the same articles' titles alone (calibration error there "
        f"{fitted.headline_ece_before:.4f} → {fitted.headline_ece_after:.4f}): `Classifier` gives it to every "
        "article that comes without a body, as YNAT's headlines do.", "",
        table(["articles", "n", "accuracy", "mean top probability raw → calibrated", "ECE (10 bins) raw → calibrated",
               "kept at ≥ 90% accuracy", "kept at ≥ 95% accuracy", "accuracy of the surest 80%"], rows), "",
        "Kept: the largest share of articles, surest first, whose accuracy reaches the target, and the threshold on "
        "the calibrated top probability that keeps them (chosen here on the evaluated set itself, to show what a "
        "threshold can buy; `kornews calibrate` chooses the run's default on validation)."])
    if args.more:
        cols = np.array([e[3:] for e in errors])
        mean = [f"{m:.4f} ± {sd:.4f}" for m, sd in zip(cols.mean(0), cols.std(0, ddof=1))]
        text += "\n\n" + "\n".join([
            f"Over {len(errors)} runs of the recipe (`--more`: other seeds), ECE (10 bins):", "",
            table(["run", "temperature", "headline temperature", "knews8 test raw", "knews8 test calibrated",
                   "knews8 test, a temperature per topic", "knews8 test accuracy: one temperature / per topic",
                   "YNAT dev raw", "YNAT dev, articles' temperature", "YNAT dev, headline temperature"],
                  [[e[0], f"{e[1]:.3f}", f"{e[2]:.3f}", *[f"{v:.4f}" for v in e[3:6]], f"{e[6]:.4f} / {e[7]:.4f}",
                    *[f"{v:.4f}" for v in e[8:]]] for e in errors]
                  + [["**mean ± sd**", "", "", mean[0], f"**{mean[1]}**", mean[2], f"{mean[3]} / {mean[4]}",
                      mean[5], mean[6], f"**{mean[7]}**"]]), "",
            "A temperature per topic (8 fitted on the same validation articles instead of one) is the issue's "
            "option, measured here: unlike one temperature it can change which topic is on top, hence its accuracy "
            "column. ECE on 320 articles has a floor: a perfectly calibrated model with these confidences shows about "
            f"{np.mean(floors):.3f} from sampling alone (`kornews.stats.confidence.ece_floor`, mean over the runs)."])
    publish("confidence", text)


if __name__ == "__main__":
    main()
