"""The general Korean-news model (recipes/korean-news.yaml: knews8 + YNAT train headlines in knews8's topics).

    python bench/general.py [--recipe recipes/korean-news.yaml] [--out-dir bench/runs/general] [--section general]
                            [--then-default] [--key=value ...]

Trains the recipe once (`kornews train`; a finished run in --out-dir is reused), then scores it on knews8 test and on
YNAT dev (9,107 headlines, macro-F1 over YNAT's 7 topics: culture and entertain both answer 생활문화). YNAT dev is
no longer another source for this model: YNAT train is in its training data. --then-default: the model as a
starting point for a small labelled set, the default recipe trained on knews8 with `--backbone=RUN/model`, scored the
same way (knews8 test is the one knews8 split the general model never trained on). Writes docs/benchmarks.md.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    kornews,
    machine,
    measured_once,
    publish,
    start,
    table,
    verb_bench,
    yardstick_scores,
    yardsticks,
)


def main():
    ap = verb_bench(__doc__, source="--recipe", default=str(ROOT / "recipes" / "korean-news.yaml"),
                    run_help="a recipe", out_dir=str(ROOT / "bench" / "runs" / "general"), section="general")
    ap.add_argument("--then-default", action="store_true", help="also the default recipe from the run's model")
    args, extra, out, recipe, started = start(ap)
    run = out / "run"
    trained = [(recipe.name, run, measured_once(kornews("train", str(recipe), *extra, "--out", str(run), "--quiet"),
                                                run, run / "final.json"))]
    if args.then_default:
        then = out / "from-general"
        trained.append(("default recipe, --backbone=<that run>/model", then, measured_once(
            kornews("train", f"--backbone={run / 'model'}", "--test=knews8:test", "--out", str(then), "--quiet"),
            then, then / "final.json")))
    from kornews.core import rundir
    from kornews.inference.classifier import Classifier
    ynat, test = yardsticks()
    rows = []
    for name, path, cost in trained:
        y_acc, y_f1, t_acc = yardstick_scores(Classifier.load(path), ynat, test)
        cost = cost or ("-", "-")
        rows.append([name, f"{t_acc:.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}", cost[0], cost[1],
                     rundir.read_json(path / "final.json").get("best_epoch")])
    text = "\n".join([
        "## The general Korean-news model: knews8 and YNAT train together" + (f" ({' '.join(extra)})" if extra else ""),
        "",
        f"`python bench/general.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"{(time.time() - started) / 60:.0f} minutes in all, one process at a time.", "",
        table(["model", "knews8 test (320)", "YNAT dev acc (9,107)", "YNAT dev macro-F1", "train s", "peak MiB",
               "kept epoch"],
              rows)])
    publish(args.section, text)


if __name__ == "__main__":
    main()
