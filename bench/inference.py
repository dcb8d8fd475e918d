"""Prediction speed on this CPU: the Hugging Face pipeline against kornews' engines, on the same fine-tuned run.

    python bench/inference.py [--run bench/runs/knews8-mode3] [--reps 5]

Every engine runs in its own process (so peak RSS is its own), one at a time: one warm-up pass over 32 articles,
then `--reps` timed passes over all knews8 test articles (title + body); the median is reported. Two input
settings: 256 tokens with head truncation (what the pipeline does) and the run's own (384 tokens, head+tail).
ONNX graphs are exported into temporary copies of the run (`kornews export`, fp32 and --int8).
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
    from kornews import articles
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


def run_pipeline(run, df, batch, dtype, reps):
    import torch
    from transformers import pipeline
    pipe = pipeline("text-classification", model=str(Path(run) / "model"), device=-1,
                    dtype=getattr(torch, dtype))
    items = [{"text": t, "text_pair": b} for t, b in zip(df.title, df.body)]

    def fn(part):
        return [r["label"] for r in pipe(part, batch_size=batch, truncation=True, max_length=256)]
    return timed(fn, items, reps)


def run_kornews(run, df, engine, setting, reps):
    from kornews import Classifier
    from kornews.featurize import Featurizer
    clf = Classifier.load(run, engine=engine)
    if setting == "head256":
        f = clf.featurizer
        clf.featurizer = Featurizer(dataclasses.replace(f.spec, **HEAD256), f.tokenizer, f.clusterer)

    def fn(part):
        return clf.predict(part.reset_index(drop=True) if hasattr(part, "reset_index") else part)
    median, preds = timed(lambda part: fn(part), df, reps)
    return median, preds, clf.engine.name


def child(args):
    df = articles()
    if args.child.startswith("pipeline"):
        _, batch, dtype = args.child.split(":")
        secs, preds = run_pipeline(args.run, df, int(batch), dtype, args.reps)
        name = f"HF pipeline {dtype} (batch {batch})"
    else:
        engine, setting = args.child.split(":")
        secs, preds, name = run_kornews(args.run, df, engine, setting, args.reps)
        name = f"kornews {name}"
    Path(args.result).write_text(json.dumps({"name": name, "seconds": secs, "preds": list(preds)}))


CASES = [  # (child spec, which run copy, setting)
    ("pipeline:8:float32", "plain", "head256"),
    ("pipeline:32:float32", "plain", "head256"),
    ("pipeline:32:bfloat16", "plain", "head256"),
    ("torch-fp32:head256", "plain", "head256"),
    ("torch-bf16:head256", "plain", "head256"),
    ("onnx-fp32:head256", "fp32", "head256"),
    ("onnx-int8:head256", "int8", "head256"),
    ("torch-fp32:own", "plain", "own"),
    ("torch-bf16:own", "plain", "own"),
    ("onnx-fp32:own", "fp32", "own"),
    ("onnx-int8:own", "int8", "own"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="bench/runs/knews8-mode3")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--child"), ap.add_argument("--result")
    args = ap.parse_args()
    if args.child:
        return child(args)
    df = articles()
    n = len(df)
    work = Path(tempfile.mkdtemp(prefix="kornews-bench-"))
    runs = {"plain": Path(args.run)}
    exported = {}
    for kind, flags in (("fp32", []), ("int8", ["--int8"])):
        runs[kind] = work / kind
        shutil.copytree(args.run, runs[kind], ignore=shutil.ignore_patterns("onnx"))
        measured(kornews("export", str(runs[kind]), *flags), log=work / f"export-{kind}.log")
        exported[kind] = json.loads(next((runs[kind] / "onnx").glob("export.json")).read_text())
    results = []
    for spec, which, setting in CASES:
        out = work / "result.json"
        _, peak = measured([sys.executable, __file__, "--run", str(runs[which]), "--reps", str(args.reps),
                            "--child", spec, "--result", str(out)], log=work / "child.log")
        r = json.loads(out.read_text())
        r.update(peak=peak, setting=setting)
        results.append(r)
        print(f"{r['name']:<40} {setting:<8} {n / r['seconds']:7.1f} articles/s  peak {peak:.0f} MiB", flush=True)
    labels = df["label"].tolist()
    reference = [r for r in results if r["name"].startswith("HF pipeline float32")]
    best_hf = max(reference, key=lambda r: n / r["seconds"])
    rows = []
    for r in results:
        acc = sum(p == y for p, y in zip(r["preds"], labels)) / n
        agree = sum(p == q for p, q in zip(r["preds"], reference[0]["preds"])) / n
        rate = n / r["seconds"]
        rows.append([r["name"], "256 head" if r["setting"] == "head256" else "run's own (384 head+tail)",
                     f"{rate:.1f}", f"{rate / (n / best_hf['seconds']):.2f}x", f"{r['peak']:.0f}", f"{acc:.4f}",
                     f"{agree:.4f}"])
    header = ["engine", "input", "articles/s", "vs best HF fp32", "peak RSS MiB", "test acc", "agrees with HF (b8)"]
    text = "\n".join([
        "## Prediction speed (knews8 test, 320 articles, title + body, one process)", "",
        f"Command: `python bench/inference.py {' '.join(sys.argv[1:])}`  ",
        f"Run: `{args.run}`; machine: {machine()}; {time.strftime('%Y-%m-%d')}", "",
        table(header, rows), "",
        f"Median of {args.reps} passes after a warm-up, each engine in its own process, one at a time. "
        f"ONNX export check (64 training articles against PyTorch fp32): fp32 agreement "
        f"{exported['fp32']['agreement']:.3f}, largest probability difference {exported['fp32']['max_prob_diff']:.1e}; "
        f"int8 agreement {exported['int8']['agreement']:.3f}, largest difference "
        f"{exported['int8']['max_prob_diff']:.1e}, file {exported['int8']['bytes'] / 2**20:.0f} MiB "
        f"(fp32 {exported['fp32']['bytes'] / 2**20:.0f} MiB)."])
    publish("inference", text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
