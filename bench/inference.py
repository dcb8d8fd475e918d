"""Prediction speed on this CPU: the Hugging Face pipeline against kornews' engines on the same fine-tuned run,
and the run's distilled students.

    python bench/inference.py --run RUN [--students S2,S4,S6] [--reps 3] [--cases SPEC,...] [--section NAME]

Every engine runs in its own process (so peak RSS is its own), one at a time: one warm-up pass over 32 articles,
then `--reps` timed passes over all knews8 test articles (title + body); the median is reported, so loading time is
out (the marginal rate). Two input settings: 256 tokens with head truncation, and the run's own (384 tokens,
head+tail; the pipeline can only cut the head, so it gets the first 384 tokens). The pipeline loads the run as a
user's `pipeline("text-classification", model=RUN/model)` does: in the dtype it was saved in (bf16); the fp32 rows
ask for float32. ONNX graphs are exported into temporary copies of the run (`kornews export`, fp32 and --int8).
`--cases` keeps only the teacher rows named (a student row needs its setting's bf16 pipeline row) and
`--section` writes another docs section, for a quick recheck beside the full table.
"""
import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import kornews, machine, measured, publish, table  # noqa: E402

HEAD256 = {"max_len": 256, "long_strategy": "head"}


def articles():
    from kornews.data import articles
    df = articles.read("knews8:test", mode=3).frame
    return df.reset_index(drop=True)


def timed(fn, items, reps):
    fn(items[:32])  # warm-up: first-call allocations, oneDNN kernel selection
    times, out = [], None
    for _ in range(reps):
        start = time.perf_counter()
        out = fn(items)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def run_pipeline(run, df, batch, dtype, reps, max_length):
    import torch
    from transformers import pipeline
    options = {} if dtype == "default" else {"dtype": getattr(torch, dtype)}
    pipe = pipeline("text-classification", model=str(Path(run) / "model"), device=-1, **options)
    items = [{"text": t, "text_pair": b} for t, b in zip(df.title, df.body)]

    def fn(part):
        return [r["label"] for r in pipe(part, batch_size=batch, truncation=True, max_length=max_length)]
    return timed(fn, items, reps)


def run_kornews(run, df, engine, setting, reps):
    from kornews import Classifier
    from kornews.model.featurize import Featurizer
    clf = Classifier.load(run, engine=engine)
    if setting == "head256":
        f = clf.featurizer
        clf.featurizer = Featurizer(dataclasses.replace(f.spec, **HEAD256), f.tokenizer, f.clusterer)

    def fn(part):
        return clf.predict(part.reset_index(drop=True) if hasattr(part, "reset_index") else part)
    median, preds = timed(lambda part: fn(part), df, reps)
    return median, preds, clf.engine.name


def own_input(run) -> str:
    """What a run reads of each article, from its model config (a short-reading student reads fewer tokens)."""
    spec = json.loads((Path(run) / "model" / "config.json").read_text()).get("kornews") or {}
    return f"{spec.get('max_len', '?')} {spec.get('long_strategy', '')}".strip()


def child(args):
    df = articles()
    kind, setting, *rest = args.child.split(":")
    if kind == "pipeline":
        batch, dtype = rest
        secs, preds = run_pipeline(args.run, df, int(batch), dtype, args.reps, 256 if setting == "head256" else 384)
        name = f"HF pipeline {'bf16 (as saved, the default)' if dtype == 'default' else dtype} (batch {batch})"
    else:
        secs, preds, name = run_kornews(args.run, df, kind, setting, args.reps)
        name = f"kornews {name}"
    Path(args.result).write_text(json.dumps({"name": name, "seconds": secs, "preds": list(preds)}))


CASES = [  # (child spec "engine:setting[:batch:dtype]", which run copy)
    ("pipeline:head256:32:float32", "plain"),
    ("pipeline:head256:32:default", "plain"),
    ("torch-bf16:head256", "plain"),
    ("pipeline:own:32:float32", "plain"),
    ("pipeline:own:32:default", "plain"),
    ("torch-fp32:own", "plain"),
    ("torch-bf16:own", "plain"),
    ("onnx-int8:own", "int8"),
]
STUDENT_CASES = ["torch-bf16:head256", "torch-bf16:own"]
BASELINE = "HF pipeline bf16"  # what a user of the pipeline gets on the teacher run: every ratio is against it


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="bench/runs/knews8-mode3")
    ap.add_argument("--students", default="", help="student run directories (kornews distill), comma-separated")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cases", default="", help="only these teacher rows (child specs, comma-separated; e.g. "
                    "pipeline:own:32:default for a quick recheck of the students' ratio)")
    ap.add_argument("--section", default="inference", help="the docs section to write (another keeps the full table)")
    ap.add_argument("--child"), ap.add_argument("--result")
    args = ap.parse_args()
    if args.child:
        return child(args)
    df = articles()
    n = len(df)
    work = Path(tempfile.mkdtemp(prefix="kornews-bench-"))
    chosen = set(filter(None, args.cases.split(",")))
    if chosen - {spec for spec, _ in CASES}:
        raise SystemExit(f"--cases: unknown {', '.join(sorted(chosen - {s for s, _ in CASES}))}; "
                         f"known: {', '.join(s for s, _ in CASES)}")
    cases = [(spec, which) for spec, which in CASES if not chosen or spec in chosen]
    runs, exported = {"plain": Path(args.run), "int8": work / "int8"}, None
    if any(which == "int8" for _, which in cases):
        shutil.copytree(args.run, runs["int8"], ignore=shutil.ignore_patterns("onnx"))
        measured(kornews("export", str(runs["int8"]), "--int8"), log=work / "export-int8.log")
        exported = json.loads(next((runs["int8"] / "onnx").glob("export.json")).read_text())
    jobs = [(spec, runs[which], "teacher") for spec, which in cases]
    # a student row only where its baseline (the pipeline on the teacher, same input) is measured too
    baselines = {spec.split(":")[1] for spec, _ in cases if spec.startswith("pipeline:") and spec.endswith(":default")}
    for student in filter(None, args.students.split(",")):
        depth = json.loads((Path(student) / "model" / "config.json").read_text())["num_hidden_layers"]
        jobs += [(spec, Path(student), f"student, {depth} layers") for spec in STUDENT_CASES
                 if spec.split(":")[1] in baselines]
    results = []
    for spec, run, model in jobs:
        out = work / "result.json"
        _, peak = measured([sys.executable, __file__, "--run", str(run), "--reps", str(args.reps),
                            "--child", spec, "--result", str(out)], log=work / "child.log")
        r = json.loads(out.read_text())
        r.update(peak=peak, setting=spec.split(":")[1], model=model, own=own_input(run))
        results.append(r)
        print(f"{r['name']:<44} {model:<18} {r['setting']:<8} {n / r['seconds']:7.1f} articles/s  "
              f"peak {peak:.0f} MiB", flush=True)
    labels = df["label"].tolist()
    base = {r["setting"]: n / r["seconds"] for r in results
            if r["name"].startswith(BASELINE) and r["model"] == "teacher"}
    rows = []
    for r in results:
        acc = sum(p == y for p, y in zip(r["preds"], labels)) / n
        rate = n / r["seconds"]
        rows.append([r["name"], r["model"], "256 head" if r["setting"] == "head256" else f"run's own ({r['own']})",
                     f"{rate:.1f}", f"{rate / base[r['setting']]:.2f}x", f"{r['peak']:.0f}", f"{acc:.4f}"])
    header = ["engine", "model", "input", "articles/s", "vs HF pipeline on the teacher (bf16, same input)",
              "peak RSS MiB", "knews8 test acc"]
    text = "\n".join([
        "## Prediction speed" + (f", --cases {args.cases}" if args.cases else "")
        + " (knews8 test, 320 articles, title + body, one process)", "",
        f"Command: `python bench/inference.py {' '.join(sys.argv[1:])}`  ",
        f"Teacher run: `{args.run}`; machine: {machine()}; {time.strftime('%Y-%m-%d')}", "",
        table(header, rows), "",
        f"Median of {args.reps} passes after a warm-up (loading time out: the marginal rate), each engine in its own "
        "process, one at a time. The pipeline's rows at the run's own input get its first 384 tokens (it cannot "
        "cut head+tail)." + ("" if exported is None else
                             " ONNX int8 export check (64 training articles against PyTorch fp32): agreement "
                             f"{exported['agreement']:.3f}, largest probability difference "
                             f"{exported['max_prob_diff']:.1e}, file {exported['bytes'] / 2**20:.0f} MiB.")])
    publish(args.section, text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
