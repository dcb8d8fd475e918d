"""Cluster information on knews8: mode 3 against modes 4 (cluster token) and 5 (cluster embedding) for each k.

    python bench/modes.py [--ks 8,16,32,64] [--modes 4,5] [--positions cls,all] [--embedder use]
                          [--out-dir bench/runs] [--reuse] [--key=value ...]

Every run uses the same recipe (the defaults plus the overrides) and differs only in mode and k; test accuracy
after every epoch shows whether the clusters buy accuracy sooner (the seed's hypothesis). Modes 4 and 5 cannot
cache the frozen layers (cluster information enters below them), so a control row runs mode 3 the same way.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py; bench scripts are not a package
from common import ROOT, kornews, machine, measured, publish, table  # noqa: E402

HEADER = ["mode", "k", "test acc (best val epoch)", "macro-F1", "test acc per epoch", "train s"]


def train(run: Path, args: list, reuse: bool = False) -> list:
    timing = run.parent / f"{run.name}.secs"
    reused = reuse and (run / "final.json").is_file() and timing.is_file()
    if reused:  # a finished run of an earlier call with the same arguments, and its measured time
        secs = float(timing.read_text())
    else:
        shutil.rmtree(run, ignore_errors=True)
        run.parent.mkdir(parents=True, exist_ok=True)
        recipe = ROOT / "recipes" / "knews8.yaml"
        secs, _ = measured(kornews("train", str(recipe), "--quiet", "--out", str(run), *args),
                           log=run.parent / f"{run.name}.log")
        timing.write_text(f"{secs:.1f}\n")
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    final = json.loads((run / "final.json").read_text())
    best = next(r for r in history if r["epoch"] == final["best_epoch"])
    return [f"{final['test_acc']:.4f} (epoch {final['best_epoch']})", f"{best['test_macro_f1']:.4f}",
            " ".join(f"{r['test_acc']:.3f}" for r in history), f"{secs:.0f}" + (" (reused)" if reused else "")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ks", default="8,16,32,64")
    ap.add_argument("--modes", default="4,5")
    ap.add_argument("--positions", default="cls,all", help="mode 5: where the cluster vector is added")
    ap.add_argument("--embedder", default="use")
    ap.add_argument("--out-dir", default="bench/runs")
    ap.add_argument("--reuse", action="store_true",
                    help="keep finished runs of an earlier call with the same arguments")
    args, overrides = ap.parse_known_args()
    out = Path(args.out_dir)
    rows = [["3", "-", *train(out / "modes-3", ["--mode=3", *overrides], args.reuse)]]
    print(rows[-1], flush=True)
    # control: mode 3 run the way modes 4/5 must run, frozen layers every step with their dropout
    rows.append(["3 (frozen layers live)", "-",
                 *train(out / "modes-3-live", ["--mode=3", "--cache_frozen=false", *overrides], args.reuse)])
    print(rows[-1], flush=True)
    for k in map(int, args.ks.split(",")):
        for mode in map(int, args.modes.split(",")):
            for position in args.positions.split(",") if mode == 5 else [None]:
                extra = [f"--mode={mode}", f"--clusters.k={k}", f"--clusters.embedder={args.embedder}"]
                name, label = f"modes-{mode}-k{k}", str(mode)
                if position:
                    extra.append(f"--clusters.position={position}")
                    name, label = f"{name}-{position}", f"5 ({position})"
                rows.append([label, str(k), *train(out / name, [*extra, *overrides], args.reuse)])
                print(rows[-1], flush=True)
    text = "\n".join([
        f"## Cluster information: modes 3, 4, 5 on knews8 ({args.embedder} clusters)", "",
        f"Command: `{' '.join(['python', 'bench/modes.py', *sys.argv[1:]])}`", "",
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}", "",
        table(HEADER, rows), "",
        "Mode 4 inserts a learned [Ck] token after [CLS]; mode 5 adds a learned k x hidden vector to the input"
        " embeddings at [CLS] only (cls) or at every token (all). Clusters are fitted on the training split only."
        " Same recipe for every row; the kept model is the epoch with the lowest validation loss. Modes 4 and 5 run"
        " the frozen bottom layers every step (with dropout); plain mode 3 computes them once without dropout, so"
        " '3 (frozen layers live)' (`--cache_frozen=false`) is the like-for-like control. Rows marked reused come"
        " from an earlier call with the same arguments (`--reuse`), timed then."])
    publish("modes", text)


if __name__ == "__main__":
    main()
