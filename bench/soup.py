"""A uniform model soup against its members and their ensemble, on both yardsticks.

    python bench/soup.py [--grid experiments/soup.yaml] [--out-dir bench/runs/soup] [--section soup]

Trains the grid's cells (`kornews experiment`: the default recipe, seeds 1-3 sharing split_seed and init_seed;
finished cells are kept), averages their weights (`kornews soup`), and scores each member, the soup (one model's
cost) and the members' ensemble (mean probability: three models' cost) on knews8 test and YNAT dev headlines.
Writes the table to docs/benchmarks.md.
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (ROOT, TO_YNAT, kornews, machine, mapped_scores, measured, publish, start, table,  # noqa: E402
                    verb_bench, yardsticks)


def main():
    ap = verb_bench(__doc__, source="--grid", default=str(ROOT / "experiments" / "soup.yaml"), run_help="a grid",
                    out_dir=str(ROOT / "bench" / "runs" / "soup"), section="soup")
    args, extra, out, grid, started = start(ap)
    if extra:  # `kornews experiment` takes no recipe overrides: the grid file says everything
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    seconds, _ = measured(kornews("experiment", str(grid), "--out", str(out / "grid"), "--quiet"),
                          out / "grid.log")
    members = sorted((out / "grid" / "cells").iterdir())
    soup = out / "soup"
    if not (soup / "model").is_dir():
        measured(kornews("soup", *map(str, members), "--out", str(soup)), out / "soup.log")

    from kornews.classifier import Classifier
    ynat, test = yardsticks()
    rows, probs = [], {"ynat": [], "test": []}
    for run in [*members, soup]:
        clf = Classifier.load(run)
        p_ynat, p_test = clf.predict_proba(ynat), clf.predict_proba(test)
        if run != soup:
            probs["ynat"].append(p_ynat)
            probs["test"].append(p_test)
        rows.append(_row(run.name, clf.labels, p_test, p_ynat, test, ynat))
    member_rows = rows[:-1]
    rows.insert(len(members), ["members: mean", *[f"{np.mean([float(r[i]) for r in member_rows]):{form}}"
                                                   for i, form in ((1, ".4f"), (2, ".4f"), (3, ".2f"))], "1×"])
    rows.append(_row("ensemble (mean probability)", clf.labels, np.mean(probs["test"], 0),
                     np.mean(probs["ynat"], 0), test, ynat, cost=f"{len(members)}×"))
    text = "\n".join([
        "## Model soup: the mean of three seeds' weights against its members and their ensemble", "",
        f"`python bench/soup.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"grid `{grid.resolve().relative_to(ROOT) if grid.resolve().is_relative_to(ROOT) else grid}` "
        f"({len(members)} cells, {seconds / 60:.0f} minutes for those trained in this call); "
        f"{(time.time() - started) / 60:.0f} minutes in all, one process at a time.", "",
        table(["model", "knews8 test (320)", "YNAT dev acc (9,107)", "YNAT dev macro-F1", "prediction cost"], rows),
        "", "Members differ only in seed (data order, dropout); they share the validation split and the head's "
        "initialisation. The soup's weights are their mean, calibrated on that validation split."])
    publish(args.section, text)


def _row(name, labels, p_test, p_ynat, test, ynat, cost="1×"):
    y_acc, y_f1 = mapped_scores(p_ynat, labels, list(ynat["label"]), TO_YNAT)
    t_acc = mapped_scores(p_test, labels, list(test["label"]))[0]
    return [name, f"{t_acc:.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}", cost]


if __name__ == "__main__":
    main()
