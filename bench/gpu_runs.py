"""Runs trained on a lent GPU (the `device` tool), each scored on the two yardsticks; then published here.

    there:  python bench/gpu_runs.py run --out DIR [--results FILE] NAME=RECIPE[:key=value...] ...  # RECIPE: a file,
            or default
    here:   python bench/gpu_runs.py publish DIR/results.jsonl [--section gpu-runs] [--title TITLE]

`run` trains each named run in turn with `kornews train`'s own code (`device: auto` finds the GPU), scores it on
knews8 test (320 articles) and YNAT dev (9,107 headlines, accuracy and macro-F1 over YNAT's 7 topics: culture and
entertain both answer 생활문화), and appends one JSON line per run to FILE (DIR/results.jsonl) at once, so a run cut
short by the lease still returns what finished. `publish` writes them as a table into docs/benchmarks.md.
"""
import argparse
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, publish, table, yardstick_scores, yardsticks  # noqa: E402


def run(out: Path, specs: list[str], results: Path) -> None:
    from kornews import config, rundir
    from kornews.classifier import Classifier
    from kornews.tasks.training import train_run
    out.mkdir(parents=True, exist_ok=True)
    ynat, test = yardsticks()
    for spec in specs:
        name, _, rest = spec.partition("=")
        recipe, *overrides = rest.split(":")
        cfg = config.load(None if recipe == "default" else ROOT / recipe, [f"--{o}" for o in overrides])
        started = time.time()
        final = train_run(cfg, out / name, progress=False, log=lambda line: print(f"[{name}] {line}", flush=True))
        y_acc, y_f1, t_acc = yardstick_scores(Classifier.load(out / name), ynat, test)
        row = {"name": name, "recipe": recipe, "overrides": overrides, "knews8_test": round(t_acc, 4),
               "ynat_acc": round(y_acc, 4), "ynat_f1": round(100 * y_f1, 2), "best_epoch": final["best_epoch"],
               "train_s": final["train_seconds"], "wall_s": round(time.time() - started, 1),
               "env": rundir.read_json(out / name / rundir.ENV), "epochs": _history(out / name),
               "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M")}
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k not in ("env", "epochs")}, ensure_ascii=False), flush=True)


def _history(run_dir: Path) -> list:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def publish_results(path: Path, section: str, title: str) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    first = rows[0]
    device = first["env"].get("device", "?")
    body = [[r["name"], r["recipe"], " ".join(f"--{o}" for o in r["overrides"]) or "-", f"{r['knews8_test']:.4f}",
             f"{r['ynat_acc']:.4f}", f"{r['ynat_f1']:.2f}", str(r["best_epoch"]), f"{r['train_s']:.0f}"] for r in rows]
    text = "\n".join([
        f"## {title}", "",
        f"`python bench/gpu_runs.py run --out OUT {' '.join(r['name'] + '=...' for r in rows)}` on the `device` "
        f"tool's machine ({first['machine']}; trained on {device}), {first['date'][:10]}, after `python "
        "bench/gpu_pack.py unpack` there; each run's NAME=RECIPE:key=value... is its row's recipe and overrides. "
        f"Published with `python bench/gpu_runs.py {shlex.join(sys.argv[1:])}` (the JSON lines, epoch by epoch, "
        f"are {path}). kornews's own training code (`device: auto`); the train seconds are the GPU's, not this "
        "CPU's.", "",
        table(["run", "recipe", "overrides", "knews8 test (320)", "YNAT dev acc (9,107)", "YNAT dev macro-F1",
               "kept epoch", "train s (GPU)"], body)])
    publish(section, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--results", help="default: OUT/results.jsonl")
    r.add_argument("specs", nargs="+")
    p = sub.add_parser("publish")
    p.add_argument("results")
    p.add_argument("--section", default="gpu-runs")
    p.add_argument("--title", default="Runs trained on a lent GPU")
    args = ap.parse_args()
    if args.verb == "run":
        run(Path(args.out), args.specs, Path(args.results or Path(args.out) / "results.jsonl"))
    else:
        publish_results(Path(args.results), args.section, args.title)


if __name__ == "__main__":
    main()
