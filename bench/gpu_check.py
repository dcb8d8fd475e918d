"""The GPU paths the yardstick runs (bench/gpu_runs.py) do not cross, on a 2-layer cut of me5-small-ko: a run with
a probe-started head and a moving average, killed in its second epoch (SIGKILL) and resumed, against the same run
uninterrupted; predictions, an explanation (the fp32 engine) and a distilled student, all on the device
`device: auto` finds. One JSON line per check; a check that raises is reported and the others still run.

    python bench/gpu_check.py --out DIR [--results FILE]     # there, after `python bench/gpu_pack.py unpack`
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--results")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = Path(args.results or out / "checks.jsonl")
    from kornews import backbones, datasets
    tiny = backbones.cut_layers(backbones.pull("me5-small-ko"), out / "tiny", 2)
    for split, n in (("train", 12), ("test", 4)):  # as the tests' slices: seconds-long training
        df = pd.read_csv(datasets.locate(f"knews8:{split}")[0], dtype=str, keep_default_na=False)
        df = df.groupby("category", group_keys=False).head(n)
        df.assign(cleanBody=df["cleanBody"].str[:300]).to_csv(out / f"{split}.csv", index=False)
    overrides = [f"--train={out / 'train.csv'}", f"--test={out / 'test.csv'}", f"--backbone={tiny}", "--max_len=32",
                 "--epochs=2", "--batch_size=4", "--lr=5e-4", "--val_fraction=0.25", "--freeze_layers=0",
                 "--long_strategy=head", "--log_every=2", "--ema=0.9", "--head_init=probe"]
    for name, check in (("resume", lambda: resume(out, overrides)), ("predict", lambda: predict(out)),
                        ("distill", lambda: distill(out))):
        started = time.time()
        try:
            row = {"check": name, "ok": True, **check()}
        except Exception as e:  # a failing check is a result here, not the end of the script
            row = {"check": name, "ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        row["seconds"] = round(time.time() - started, 1)
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "trace"}, ensure_ascii=False), flush=True)


def kornews(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "kornews.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


def resume(out: Path, overrides: list) -> dict:
    reference, killed = out / "reference", out / "killed"
    assert kornews("train", "--quiet", "--out", str(reference), *overrides).wait() == 0
    proc = kornews("train", "--quiet", "--out", str(killed), *overrides)
    for line in proc.stdout:
        if line.startswith("[Epoch 2 Batch 2/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 1, "not killed inside epoch 2"
    assert kornews("train", "--resume", str(killed), "--quiet").wait() == 0
    rows = [[json.loads(line) for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (reference, killed)]
    gap = max(abs(a[k] - b[k]) for a, b in zip(*rows) for k in ("train_loss", "val_loss", "test_acc"))
    env = json.loads((killed / "env.json").read_text())
    return {"device": env["device"], "largest_metric_gap": gap, "reference": rows[0][-1], "resumed": rows[1][-1]}


def predict(out: Path) -> dict:
    from kornews import Classifier
    test = pd.read_csv(out / "test.csv", dtype=str, keep_default_na=False)
    clf = Classifier.load(out / "reference")
    right = sum(p == t for p, t in zip(clf.predict(test), test["category"]))
    fp32 = Classifier.load(out / "reference", engine="torch-fp32")
    words = fp32.explain(test.head(2), k=3)
    assert len(words) == 2 and any(words), words  # a barely trained tiny model may have no word for one
    return {"engine": clf.engine.name, "engine_device": clf.engine.device, "test_right": f"{right}/{len(test)}",
            "explained": [[w.word for w in article] for article in words]}


def distill(out: Path) -> dict:
    from kornews.tasks.distilling import distill_run
    distill_run(out / "reference", out / "student", layers=1, epochs=1, progress=False, log=lambda s: None)
    env = json.loads((out / "student" / "env.json").read_text())
    return {"device": env["device"], "final": json.loads((out / "student" / "final.json").read_text())}


if __name__ == "__main__":
    main()
