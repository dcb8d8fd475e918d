"""Distilled students of a run (`kornews distill`): what each depth keeps of the teacher, and what it costs.

    python bench/distill.py --run RUN [--layers 2,4,6] [--out-dir bench/runs/distill] [--section distill]
                            [kornews distill options, e.g. --epochs=6 --unlabeled=FILE]

Each `kornews distill` runs as a child process, one at a time (seconds and peak memory of that process alone); a
student finished by an earlier invocation is reused with what was measured then. Scores: knews8 test accuracy
(320 articles, title + body), and YNAT dev headline accuracy and macro-F1 over its 7 topics (9,107 headlines of
another outlet and period; culture and entertain → 생활문화), for the teacher and every student. Prediction speed
is bench/inference.py's.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TO_YNAT, kornews, machine, mapped_scores, measured, publish, table  # noqa: E402


def distill(run: Path, out: Path, layers: int, extra: list[str]) -> tuple[str, str]:
    record = out.with_suffix(".json")
    if (out / "final.json").is_file() and record.is_file():
        return tuple(json.loads(record.read_text()))
    if out.exists():
        shutil.rmtree(out)
    seconds, peak = measured(kornews("distill", str(run), "--out", str(out), "--layers", str(layers), "--quiet",
                                     *extra), log=out.with_suffix(".log"))
    record.write_text(json.dumps([f"{seconds:.0f}", f"{peak:.0f}"]))
    return f"{seconds:.0f}", f"{peak:.0f}"


def scores(run: Path, ynat, test) -> list[str]:
    from kornews import Classifier
    clf = Classifier.load(run)
    acc, f1 = mapped_scores(clf.predict_proba(ynat), clf.labels, list(ynat["label"]), TO_YNAT)
    in_domain, _ = mapped_scores(clf.predict_proba(test), clf.labels, list(test["label"]))
    return [f"{in_domain:.4f}", f"{acc:.4f}", f"{f1 * 100:.2f}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="the teacher (e.g. the run `kornews demo` leaves)")
    ap.add_argument("--layers", default="2,4,6")
    ap.add_argument("--out-dir", default="bench/runs/distill")
    ap.add_argument("--tag", default="", help="a suffix of the students' directories (another recipe)")
    ap.add_argument("--section", default="distill")
    args, extra = ap.parse_known_args()
    from kornews import articles
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = Path(args.run)
    started = time.time()
    ynat = articles.read("ynat:dev", mode=2, quiet=True).frame.assign(body="")
    test = articles.read("knews8:test", mode=3, quiet=True).frame
    header = ["model", "layers", "distill seconds", "peak MiB", "knews8 test accuracy", "YNAT dev accuracy",
              "YNAT dev macro-F1"]
    teacher_layers = json.loads((run / "model" / "config.json").read_text())["num_hidden_layers"]
    rows = [[f"teacher ({run.name})", teacher_layers, "-", "-", *scores(run, ynat, test)]]
    for n in [int(x) for x in args.layers.split(",")]:
        out = out_dir / f"student-{n}{args.tag}"
        seconds, peak = distill(run, out, n, extra)
        rows.append([f"student `{out}`", n, seconds, peak, *scores(out, ynat, test)])
        print(table(header, rows), flush=True)
    options = " ".join(extra) or "its defaults"
    text = "\n".join([
        "## Distilled students", "",
        f"`python bench/distill.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"`kornews distill` with {options}; {(time.time() - started) / 60:.0f} minutes in all, one process at a "
        "time.", "",
        table(header, rows), "",
        "knews8 test: 320 articles (one article is 0.31 points). YNAT dev: 9,107 headlines of another outlet and "
        "period, 7 topics (culture and entertain → 생활문화). Students finished by an earlier invocation are reused "
        "with the seconds and peak memory measured then."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
