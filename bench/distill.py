"""Distilled students of a run (`kornews distill`): what each depth keeps of the teacher, and what it costs.

    python bench/distill.py --run RUN [--layers 2,4,6] [--out-dir bench/runs/distill] [--section distill]
                            [kornews distill options, e.g. --epochs=6 --unlabeled=FILE]

Each `kornews distill` runs as a child process, one at a time (seconds and peak memory of that process alone); a
student finished by an earlier invocation is reused with what was measured then. Scores: knews8 test accuracy
(320 articles, title + body), and YNAT dev headline accuracy and macro-F1 over its 7 topics (9,107 headlines of
another outlet and period; culture and entertain → 생활문화), for the teacher and every student. Prediction speed
is bench/inference.py's.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    kornews,
    measured_once,
    provenance,
    publish,
    start,
    table,
    verb_bench,
    yardstick_scores,
    yardsticks,  # noqa: E402
)


def distill(run: Path, out: Path, layers: int, extra: list[str]) -> tuple[str, str]:
    cmd = kornews("distill", str(run), "--out", str(out), "--layers", str(layers), "--quiet", *extra)
    return measured_once(cmd, out, out / "final.json") or ("-", "-")


def scores(run: Path, ynat, test) -> list[str]:
    from kornews import Classifier
    acc, f1, in_domain = yardstick_scores(Classifier.load(run), ynat, test)
    return [f"{in_domain:.4f}", f"{acc:.4f}", f"{f1 * 100:.2f}"]


def main():
    ap = verb_bench(__doc__, run_help="the teacher (e.g. the run `kornews demo` leaves)", out_dir="bench/runs/distill",
                    section="distill")
    ap.add_argument("--layers", default="2,4,6")
    ap.add_argument("--tag", default="", help="a suffix of the students' directories (another recipe)")
    args, extra, out_dir, run, started = start(ap)
    ynat, test = yardsticks()
    header = ["model", "layers", "distill seconds", "peak MiB", "knews8 test accuracy", "YNAT dev accuracy",
              "YNAT dev macro-F1"]
    teacher_layers = json.loads((run / "model" / "config.json").read_text())["num_hidden_layers"]
    rows = [[f"teacher ({run.name})", teacher_layers, "-", "-", *scores(run, ynat, test)]]
    for n in [int(x) for x in args.layers.split(",")]:
        out = out_dir / f"student-{n}{args.tag}"
        seconds, peak = distill(run, out, n, extra)
        rows.append([f"student `{out}`", n, seconds, peak, *scores(out, ynat, test)])
        print(table(header, rows), flush=True)
    text = "\n".join([
        "## Distilled students" + (f" ({' '.join(extra)})" if extra else ""), "",
        provenance("distill", extra, started), "",
        table(header, rows), "",
        "knews8 test: 320 articles (one article is 0.31 points). YNAT dev: 9,107 headlines of another outlet and "
        "period, 7 topics (culture and entertain → 생활문화). Students finished by an earlier invocation are reused "
        "with the seconds and peak memory measured then."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
