"""An experiment grid as a benchmark: its cells trained by `kornews experiment`, its report's tables published.

    python bench/grid.py [--grid experiments/lp-ft.yaml] [--out-dir bench/runs/lp-ft] [--section lp-ft]
                         [--reuse DIR ...] [--report-only]

--reuse DIR (another grid's output): a finished cell there of the same name whose config.yaml is the config this
grid gives that cell is copied in instead of trained again, so conditions measured before (for instance the
default recipe's seeds in bench/soup.py) pair with new ones at no cost. The summary (mean ± sd over seeds and
folds, cross-source where the grid has a `cross:` set) and the paired differences against the grid's baseline go
to docs/benchmarks.md.
"""
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, kornews, machine, measured, publish, start, table, verb_bench  # noqa: E402

COLUMNS = ["Condition", "seeds", "folds", "test acc (kept model)", "macro-F1 (kept model)", "cross acc",
           "cross macro-F1", "kept epoch", "train s"]


def reuse(grid: Path, out: Path, others: list[Path]) -> list[str]:
    """Copy into `out`'s cells the finished cells of `others` that this grid would train with the same config."""
    from kornews.commands import experiment
    from kornews.training import config
    spec = experiment.read_grid(grid)
    copied = []
    for cell in experiment.cells(spec):
        mine = out / experiment.CELLS / cell.name
        if mine.exists():
            continue
        for other in others:
            theirs = other / experiment.CELLS / cell.name
            if (theirs / "report.json").is_file() and not cell.fold and \
                    config.read_run(theirs) == experiment.cell_config(spec, cell, out):
                shutil.copytree(theirs, mine)
                copied.append(f"{cell.name} (from {other})")
                break
    return copied


def main():
    ap = verb_bench(__doc__, source="--grid", default=str(ROOT / "experiments" / "lp-ft.yaml"),
                    run_help="a grid file (experiments/*.yaml)", out_dir=str(ROOT / "bench" / "runs" / "lp-ft"),
                    section="lp-ft")
    ap.add_argument("--reuse", nargs="*", default=[], type=Path)
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: publish what the finished cells say (a grid stopped early)")
    args, extra, out, grid, started = start(ap)
    if extra:  # the grid file says everything
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    copied = [] if args.report_only else reuse(grid, out / "grid", args.reuse)
    verb = ("experiment", "report", str(out / "grid")) if args.report_only else \
        ("experiment", str(grid), "--out", str(out / "grid"), "--quiet")
    seconds, _ = measured(kornews(*verb), out / ("report.log" if args.report_only else "grid.log"))
    report = out / "grid" / "report"
    summary = pd.read_csv(report / "summary.csv", dtype=str)  # as written: signs and decimals kept
    shown = [c for c in COLUMNS if c in summary]
    parts = [f"## Experiment grid `{grid.name}`", "",
             f"`python bench/grid.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
             f"{len(summary)} conditions"
             + ("; the cells finished so far (the grid was stopped early: `seeds` says how many per condition)."
                if args.report_only else f"; {seconds / 60:.0f} minutes for the cells trained in this call, "
                f"{(time.time() - started) / 60:.0f} in all, one process at a time.")
             + (f" Reused, not retrained: {', '.join(copied)}." if copied else ""), "",
             table(shown, summary[shown].fillna("-").values.tolist())]
    if (report / "paired.csv").is_file():
        pairs = pd.read_csv(report / "paired.csv", dtype=str)
        parts += ["", "Paired, cell by cell (same seed and fold), in points; t = mean / (sd / √pairs):", "",
                  table(list(pairs.columns), pairs.fillna("-").values.tolist())]
    publish(args.section, "\n".join(parts))


if __name__ == "__main__":
    main()
