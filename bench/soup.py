"""A uniform model soup against its members and their ensemble, on both yardsticks.

    python bench/soup.py [--grid experiments/soup.yaml] [--out-dir bench/runs/soup] [--section soup]
    python bench/soup.py --members RUN RUN [...] --out-dir DIR --section NAME

Trains the grid's cells (`kornews experiment`: the default recipe, seeds 1-3 sharing split_seed and init_seed;
finished cells are kept), or takes finished runs (--members: any runs `kornews soup` accepts, for instance general
models trained apart), averages their weights (`kornews soup`), and scores each member, the soup (one model's cost)
and the members' ensemble (mean probability: as many models' cost) on knews8 test and YNAT dev headlines. Writes
the table to docs/benchmarks.md.
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    TO_YNAT,
    kornews,
    machine,
    mapped_scores,
    measured,
    publish,
    start,
    table,
    verb_bench,
    yardsticks,
)

NUMBER = {2: "two", 3: "three", 4: "four", 5: "five"}


def main():
    ap = verb_bench(__doc__, source="--grid", default=str(ROOT / "experiments" / "soup.yaml"), run_help="a grid",
                    out_dir=str(ROOT / "bench" / "runs" / "soup"), section="soup")
    ap.add_argument("--members", nargs="+", type=Path, help="finished runs to soup instead of the grid's cells")
    args, extra, out, grid, started = start(ap)
    if extra:  # `kornews experiment` takes no recipe overrides: the grid file says everything
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.members:
        members, trained = args.members, "finished runs, none trained in this call"
    else:
        seconds, _ = measured(kornews("experiment", str(grid), "--out", str(out / "grid"), "--quiet"),
                              out / "grid.log")
        members = sorted((out / "grid" / "cells").iterdir())
        name = grid.resolve().relative_to(ROOT) if grid.resolve().is_relative_to(ROOT) else grid
        trained = f"grid `{name}` ({len(members)} cells, {seconds / 60:.0f} minutes for those trained in this call)"
    soup = out / "soup"
    if not (soup / "model").is_dir():
        measured(kornews("soup", *map(str, members), "--out", str(soup)), out / "soup.log")

    from kornews.inference.classifier import Classifier
    ynat, test = yardsticks()
    rows, probs = [], {"ynat": [], "test": []}
    for run in [*members, soup]:
        clf = Classifier.load(run)
        p_ynat, p_test = clf.predict_proba(ynat), clf.predict_proba(test)
        if run != soup:
            probs["ynat"].append(p_ynat)
            probs["test"].append(p_test)
        rows.append(_row(_name(run, members), clf.labels, p_test, p_ynat, test, ynat))
    member_rows = rows[:-1]
    rows.insert(len(members), ["members: mean", *[f"{np.mean([float(r[i]) for r in member_rows]):{form}}"
                                                   for i, form in ((1, ".4f"), (2, ".4f"), (3, ".2f"))], "1×"])
    rows.append(_row("ensemble (mean probability)", clf.labels, np.mean(probs["test"], 0),
                     np.mean(probs["ynat"], 0), test, ynat, cost=f"{len(members)}×"))
    text = "\n".join([
        f"## Model soup: the mean of {NUMBER.get(len(members), len(members))} seeds' weights against its members "
        "and their ensemble", "",
        f"`python bench/soup.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; {trained}; "
        f"{(time.time() - started) / 60:.0f} minutes in all, one process at a time.", "",
        table(["model", "knews8 test (320)", "YNAT dev acc (9,107)", "YNAT dev macro-F1", "prediction cost"], rows),
        "", "Members differ only in seed (data order, dropout); they share the validation split and the head's "
        "initialisation. The soup's weights are their mean, calibrated on that validation split."])
    publish(args.section, text)


def _name(run, members) -> str:
    """A member's row name: its directory, or the one above where members share the name (`.../run`)."""
    names = [m.name for m in members]
    return run.parent.name if run.name in names and names.count(run.name) > 1 else run.name


def _row(name, labels, p_test, p_ynat, test, ynat, cost="1×"):
    y_acc, y_f1 = mapped_scores(p_ynat, labels, list(ynat["label"]), TO_YNAT)
    t_acc = mapped_scores(p_test, labels, list(test["label"]))[0]
    return [name, f"{t_acc:.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}", cost]


if __name__ == "__main__":
    main()
