"""knews8: fine-tuned encoder (modes 1, 2, 3) against TF-IDF + linear SVM, measured in one run.

    python bench/knews8.py [--modes 1,2,3] [--out-dir bench/runs] [--key=value ...]

Each mode trains in its own process (`kornews train`, then `kornews evaluate` on knews8:test), so the
training time and peak memory are that process's alone. Prints the table and writes it into
docs/benchmarks.md with the exact command.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py; bench scripts are not a package
from common import ROOT, kornews, machine, measured, publish, table  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from kornews.data import articles
from kornews.stats import tfidf


def tfidf_row(mode: int) -> list:
    tr = articles.read("knews8", mode=mode).frame
    te = articles.read("knews8:test", mode=mode).frame
    start = time.perf_counter()
    clf = tfidf.tfidf_svm().fit(tfidf.texts(tr, mode), tr["label"])
    pred = clf.predict(tfidf.texts(te, mode))
    secs = time.perf_counter() - start
    return ["TF-IDF char 1-3 + LinearSVC", mode, f"{accuracy_score(te['label'], pred):.4f}",
            f"{f1_score(te['label'], pred, average='macro'):.4f}", f"{secs:.1f}", "-", "-", "-"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="1,2,3")
    ap.add_argument("--out-dir", default="bench/runs")
    ap.add_argument("--section", default="knews8", help="docs/benchmarks.md section to replace")
    args, overrides = ap.parse_known_args()
    rows = []
    for mode in map(int, args.modes.split(",")):
        rows.append(tfidf_row(mode))
        run = Path(args.out_dir) / f"knews8-mode{mode}"
        shutil.rmtree(run, ignore_errors=True)
        run.parent.mkdir(parents=True, exist_ok=True)
        secs, peak = measured(kornews("train", str(RECIPE), "--quiet", "--out", str(run), f"--mode={mode}",
                                      *overrides), log=run.parent / f"knews8-mode{mode}.log")
        measured(kornews("evaluate", str(run), "knews8:test", "--quiet"))
        report = json.loads((run / "report.json").read_text())
        final = json.loads((run / "final.json").read_text())
        cfg = (run / "config.yaml").read_text()
        backbone = next(line.split(": ", 1)[1] for line in cfg.splitlines() if line.startswith("backbone:"))
        size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file())
        rows.append([f"fine-tuned {backbone} (best epoch {final['best_epoch']}/{final['epochs_run']})", mode,
                     f"{report['accuracy']:.4f}", f"{report['macro']['f1']:.4f}", f"{secs:.0f}", f"{peak:.0f}",
                     f"{size / 2**20:.1f} ({size / 1e6:.1f} MB)",
                     " ".join(f"{json.loads(line)['test_acc']:.3f}"
                              for line in (run / "metrics.jsonl").read_text().splitlines())])
        print(table(HEADER, rows[-2:]), flush=True)
    text = "\n".join([
        "## knews8 (train 1,280 / test 320, 8 topics)", "",
        f"Command: `{' '.join(['python', 'bench/knews8.py', *sys.argv[1:]])}`  ",
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}", "",
        table(HEADER, rows), "",
        "Training time is wall-clock for `kornews train` (data loading and tokenisation included); peak memory is that"
        " process's maximum RSS; the run directory is measured after `kornews evaluate` (model, tokenizer, predictions,"
        " report, plots). Test accuracy per epoch shows time-to-accuracy; the kept model is the epoch with the"
        " lowest validation loss (10% of train, stratified), never chosen on test."])
    publish(args.section, text)


RECIPE = ROOT / "recipes" / "knews8.yaml"
HEADER = ["model", "mode", "test acc", "macro-F1", "train s", "peak MiB", "run dir MiB", "test acc per epoch"]

if __name__ == "__main__":
    main()
