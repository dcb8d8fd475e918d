"""Adapting a knews8 run to another source without its labels (`kornews adapt`): where the gain comes from.

    python bench/adapt.py --run RUN [--out-dir bench/runs/adapt] [--cases inductive,transductive]
                          [--section adapt] [kornews adapt options, e.g. --per-topic=2000 --epochs=2]

- inductive: the run adapted on the 44,931 KLUE YNAT train headlines with their labels removed (the file given to
  `kornews adapt` has no label column), scored on YNAT dev (9,107 headlines): a user who adapts on the stream of
  news they have and then tags new articles of that stream.
- transductive: adapted on YNAT dev itself, unlabelled, and scored on it: a user who adapts on exactly the
  articles to tag.

Rows: the run as trained; prior correction alone (`--method prior`); self-training without label spreading
(`--neighbours=0`); self-training (the default); the default adapted run adapted again by prior correction; and, in
the transductive case, the spread probabilities alone; `round2` (not in the default --variants) adapts the default's
adapted run once more by self-training. Each `kornews adapt` runs as a child process (seconds and
peak memory of that process alone). YNAT accuracy and macro-F1 over its 7 topics
through the label map (culture and entertain → 생활문화); knews8 test accuracy beside, of the adapted model as it
is (prior shift included) and without the prior shift. Pseudo-label accuracy is measured here with YNAT's labels,
which `kornews adapt` never sees.
"""
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    TO_YNAT,
    kornews,
    mapped_scores,
    measured_once,
    provenance,
    publish,
    start,
    table,
    verb_bench,  # noqa: E402
    yardstick_scores,
    yardsticks,
)


def unlabeled(split: str, path: Path) -> pd.DataFrame:
    """YNAT `split` headlines; the file written for `kornews adapt` holds ids and titles only."""
    from kornews.data import articles
    frame = articles.read(f"ynat:{split}", mode=2, quiet=True).frame
    if not path.is_file():
        frame[["id", "title"]].to_csv(path, index=False)
    return frame


def adapt(run: Path, source: Path, out: Path, method: str, extra: list[str]) -> tuple[str, str]:
    """(seconds, peak MiB) of `kornews adapt` into `out`; a run finished by an earlier invocation is reused with what
    that invocation measured (its own summary's seconds where it recorded nothing)."""
    summary = out / "adapt" / "summary.json"
    cmd = kornews("adapt", str(run), str(source), "--out", str(out), "--method", method, "--quiet", *extra)
    return measured_once(cmd, out, summary) or (f"{json.loads(summary.read_text())['seconds']:.0f}", "-")


def scores(run: Path, ynat: pd.DataFrame, test: pd.DataFrame, prior: bool = True) -> list[str]:
    from kornews import Classifier
    clf = Classifier.load(run, prior=prior)
    acc, f1, in_domain = yardstick_scores(clf, ynat, test)
    bare = mapped_scores(Classifier.load(run, prior=False).predict_proba(test), clf.labels, list(test["label"]))[0] \
        if prior and (Path(run) / "adaptation.json").is_file() else in_domain
    return [f"{acc:.4f}", f"{f1 * 100:.2f}", f"{in_domain:.4f}", f"{bare:.4f}"]


def pseudo_accuracy(out: Path, truth: pd.DataFrame) -> str:
    path = out / "adapt" / "pseudo.csv"
    if not path.is_file():
        return "-"
    pseudo = pd.read_csv(path, dtype=str, keep_default_na=False)
    label = dict(zip(truth["id"], truth["label"]))
    right = sum(TO_YNAT[p] == label[i] for i, p in zip(pseudo["id"], pseudo["category"]))
    return f"{right / len(pseudo):.3f} of {len(pseudo):,}"


VARIANTS = {  # name: (its row, `kornews adapt` method, options, adapted from the default variant's run)
    "prior": ("prior correction alone", "prior", [], False),
    "no-spread": ("self-training without spreading (--neighbours=0)", "self-train", ["--neighbours=0"], False),
    "default": ("**self-training (default)**", "self-train", [], False),
    "then-prior": ("self-training, then prior correction", "prior", [], True),
    "round2": ("self-training, a second round (the default's run adapted again)", "self-train", [], True),
}


def main():
    ap = verb_bench(__doc__, run_help="a finished knews8 run (e.g. the one `kornews demo` leaves)",
                    out_dir="bench/runs/adapt", section="adapt")
    ap.add_argument("--cases", default="inductive,transductive")
    ap.add_argument("--variants", default="prior,no-spread,default,then-prior", help=f"any of {', '.join(VARIANTS)}")
    args, extra, out_dir, run, started = start(ap)
    ynat_dev, test = yardsticks()
    header = ["case", "model", "adapt seconds", "peak MiB", "pseudo-labels right", "YNAT dev accuracy",
              "YNAT dev macro-F1", "knews8 test accuracy", "knews8 test, no prior shift"]
    rows = [["-", f"the run as trained ({run.name})", "-", "-", "-", *scores(run, ynat_dev, test)]]
    for case in args.cases.split(","):
        split = {"inductive": "train", "transductive": "dev"}[case]
        source = out_dir / f"ynat-{split}-unlabeled.csv"
        truth = unlabeled(split, source)
        for variant in args.variants.split(","):
            name, method, options, chained = VARIANTS[variant]
            origin = out_dir / f"{case}-default" if chained else run
            out = out_dir / f"{case}-{variant}"
            seconds, peak = adapt(origin, source, out, method, [*options, *extra])
            rows.append([case, name, seconds, peak, pseudo_accuracy(out, truth),
                         *scores(out, ynat_dev, test)])
            spread = out / "adapt" / "spread-probs.npy"
            if case == "transductive" and spread.is_file():  # the target is the scored set: spreading alone
                import numpy as np

                from kornews import Classifier
                labels = Classifier.load(out).labels
                acc, f1 = mapped_scores(np.load(spread), labels, list(ynat_dev["label"]), TO_YNAT)
                rows.append([case, "label spreading alone (no training; the target is the scored set)", "-", "-",
                             "-", f"{acc:.4f}", f"{f1 * 100:.2f}", "-", "-"])
            print(table(header, rows), flush=True)
    text = "\n".join([
        "## Adapting to another source without its labels", "",
        f"On the run `kornews demo` left. {provenance('adapt', extra, started)}", "",
        table(header, rows), "",
        "Inductive: adapted on YNAT train headlines without labels, scored on YNAT dev; transductive: adapted on "
        "YNAT dev itself, unlabelled. YNAT scores are over its 7 topics (culture and entertain → 생활문화). "
        "'Then prior correction' adapts the default adapted run again with `--method prior`. Runs finished by an "
        "earlier invocation are reused with the seconds and peak memory measured then. A prior shift is the "
        "target's topic mix: on knews8 test (balanced, with entertainment) it is the wrong mix, hence the last "
        "column, the same model without it."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
