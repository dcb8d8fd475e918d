"""A distilled student in cross-validation: each fold's teacher and its student, scored side by side on the fold's
held-out articles, so the student's loss is measured on 1,600 articles, paired by fold, not on one 320-article split.

    python bench/distill_cv.py [--cells bench/runs/calibration-cv/cells] [--seed 1]
                               [--out-dir bench/runs/distill-cv] [--section distill-cv] [kornews distill options]

The teachers are the default recipe's five fold runs of `bench/calibration_cv.py` (knews8's 1,600 articles in 5
stratified folds; each run trained on four folds, its validation split taken from them, and tested on the fifth).
Each student is `kornews distill TEACHER --layers N` (2 unless told, with the options given; so it learns from the
same training articles), one at a time; a student finished by an earlier invocation is reused with the seconds
measured then. Both are also scored on YNAT dev headlines (9,107, another outlet and period). Fold runs that have
not finished are left out (the table says how many of the 5 it has).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    TO_YNAT,
    kornews,
    machine,
    mapped_scores,
    measured_once,
    publish,
    section,
    table,
    yardsticks,  # noqa: E402
)


def held_out(teacher: Path):
    """The articles of the teacher's held-out fold (its config's `test`)."""
    from kornews.data import articles
    from kornews.training import config
    return articles.read(config.read_run(teacher).test, mode=3, quiet=True).frame


def scores(run: Path, test, ynat) -> tuple[float, float]:
    """(accuracy on `test`, YNAT dev accuracy) of a run."""
    from kornews import Classifier
    clf = Classifier.load(run)
    return (mapped_scores(clf.predict_proba(test), clf.labels, list(test["label"]))[0],
            mapped_scores(clf.predict_proba(ynat), clf.labels, list(ynat["label"]), TO_YNAT)[0])


def mean_sd(values) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="bench/runs/calibration-cv/cells")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--out-dir", default="bench/runs/distill-cv")
    ap.add_argument("--section", default="distill-cv")
    args, extra = ap.parse_known_args()
    started, out_dir = time.time(), Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # only the fold runs that finished: a grid stopped early still measures the folds it has
    teachers = sorted(t for t in Path(args.cells).glob(f"default-recipe-seed{args.seed}-fold*")
                      if (t / "final.json").is_file())
    if not teachers:
        raise SystemExit(f"no fold runs of seed {args.seed} under {args.cells}: run bench/calibration_cv.py first")
    ynat, _ = yardsticks()
    header = ["fold", "held-out articles", "distill seconds", "teacher: fold accuracy", "student: fold accuracy",
              "student − teacher", "teacher: YNAT dev", "student: YNAT dev", "student − teacher (YNAT)"]
    rows, diffs, cross_diffs, right = [], [], [], [0, 0, 0]
    for teacher in teachers:
        student = out_dir / f"{teacher.name}-student{args.layers}"
        cmd = kornews("distill", str(teacher), "--out", str(student), "--layers", str(args.layers), "--quiet", *extra)
        seconds = (measured_once(cmd, student, student / "final.json") or ("-", "-"))[0]
        test = held_out(teacher)
        n, (t_fold, t_cross), (s_fold, s_cross) = len(test), scores(teacher, test, ynat), scores(student, test, ynat)
        diffs.append(s_fold - t_fold)
        cross_diffs.append(s_cross - t_cross)
        right = [right[0] + round(t_fold * n), right[1] + round(s_fold * n), right[2] + n]
        rows.append([teacher.name.rsplit("-", 1)[1], n, seconds, f"{t_fold:.4f}", f"{s_fold:.4f}",
                     f"{diffs[-1] * 100:+.1f}", f"{t_cross:.4f}", f"{s_cross:.4f}", f"{cross_diffs[-1] * 100:+.1f}"])
        print(table(header, rows), flush=True)
    folds = [[float(r[3]), float(r[4]), float(r[6]), float(r[7])] for r in rows]
    rows.append(["**mean ± sd of the folds**", right[2], "", mean_sd([f[0] for f in folds]),
                 mean_sd([f[1] for f in folds]), f"{statistics.mean(diffs) * 100:+.1f} ± "
                 f"{statistics.stdev(diffs) * 100:.1f}", mean_sd([f[2] for f in folds]),
                 mean_sd([f[3] for f in folds]), f"{statistics.mean(cross_diffs) * 100:+.1f} ± "
                 f"{statistics.stdev(cross_diffs) * 100:.1f}"])
    rows.append(["**all folds pooled**", right[2], "", f"{right[0] / right[2]:.4f}", f"{right[1] / right[2]:.4f}",
                 f"{(right[1] - right[0]) / right[2] * 100:+.1f}", "", "", ""])
    how = (f"`python bench/distill_cv.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
           f"`kornews distill TEACHER --layers {args.layers}` with {' '.join(extra) or 'its defaults'} from each of "
           f"the default recipe's fold runs ({len(teachers)} of 5, seed {args.seed}, `bench/calibration_cv.py`); "
           f"{(time.time() - started) / 60:.0f} minutes in all, one process at a time.")
    publish(args.section, section(
        f"A distilled student in cross-validation ({' '.join([f'--layers {args.layers}', *extra])})", how, header,
        rows,
        "Each fold: 320 held-out knews8 articles (title + body) that neither the teacher nor its student trained on "
        "(one article is 0.31 points); YNAT dev: 9,107 headlines of another outlet and period, 7 topics. The "
        "differences are paired by fold (the same articles, the student's own teacher)."))


if __name__ == "__main__":
    main()
