"""KLUE YNAT (headlines, 7 topics): fine-tuned built-in backbones against the published dev macro-F1.

    python bench/ynat.py [--backbones me5-small,me5-small-ko] [--out-dir bench/runs] [--hybrid]
                         [--section ynat] [--key=value ...]

Trains on ../shared/data/ynat/train.tsv with recipes/ynat.yaml (mode 2, title only) plus overrides, evaluates
macro-F1 and accuracy on the official dev set, beside a TF-IDF + linear SVM measured in the same run.
`--hybrid` adds, per fine-tuned run, the hybrid's parts and fusions (TF-IDF logistic regression on the run's
training part, fusion fitted on its validation split; see `kornews hybrid`) scored on the same dev set.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py; bench scripts are not a package
from common import ROOT, hybrid_scores, kornews, machine, measured, publish, table  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from kornews.data import articles
from kornews.stats import tfidf

PUBLISHED = [("mBERT", 81.55), ("XLM-R base", 83.52), ("KR-BERT", 84.58), ("KoELECTRA", 84.59),
             ("KLUE-RoBERTa base", 85.12), ("KLUE-BERT base", 85.49), ("XLM-R large", 86.06),
             ("KLUE-RoBERTa large", 86.42)]
HEADER = ["model", "dev macro-F1", "dev acc", "train s", "peak MiB", "macro-F1 per epoch"]


def tfidf_row() -> list:
    tr, dev = articles.read("ynat", mode=2).frame, articles.read("ynat:dev", mode=2).frame
    start = time.perf_counter()
    clf = tfidf.tfidf_svm().fit(tr["title"], tr["label"])
    pred = clf.predict(dev["title"])
    return ["TF-IDF char 1-3 + LinearSVC (this run)", f"{100 * f1_score(dev['label'], pred, average='macro'):.2f}",
            f"{100 * accuracy_score(dev['label'], pred):.2f}", f"{time.perf_counter() - start:.0f}", "-", "-"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", default="me5-small,me5-small-ko")
    ap.add_argument("--out-dir", default="bench/runs")
    ap.add_argument("--hybrid", action="store_true", help="also score the hybrid's parts and fusions on dev")
    ap.add_argument("--section", default="ynat", help="the docs/benchmarks.md section to write")
    args, overrides = ap.parse_known_args()
    rows = [tfidf_row()]
    print(rows[0], flush=True)
    for backbone in args.backbones.split(","):
        run = Path(args.out_dir) / f"ynat-{backbone.replace('/', '--')}"
        shutil.rmtree(run, ignore_errors=True)
        run.parent.mkdir(parents=True, exist_ok=True)
        secs, peak = measured(kornews("train", str(ROOT / "recipes" / "ynat.yaml"), "--quiet", "--out", str(run),
                                      f"--backbone={backbone}", *overrides), log=run.parent / f"{run.name}.log")
        measured(kornews("evaluate", str(run), "ynat:dev", "--quiet"))
        report = json.loads((run / "report.json").read_text())
        history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        final = json.loads((run / "final.json").read_text())
        rows.append([f"fine-tuned {backbone} (best epoch {final['best_epoch']}/{final['epochs_run']})",
                     f"{100 * report['macro']['f1']:.2f}", f"{100 * report['accuracy']:.2f}", f"{secs:.0f}",
                     f"{peak:.0f}", " ".join(f"{100 * r['test_macro_f1']:.2f}" for r in history
                                             if "test_macro_f1" in r) or "-"])
        print(rows[-1], flush=True)
        if args.hybrid:
            started = time.perf_counter()
            dev = articles.read("ynat:dev", mode=2).frame
            scores = hybrid_scores(run, dev)
            scores.pop("encoder")  # the row above
            secs = time.perf_counter() - started
            rows += [[f"{backbone} run + {name}", f"{100 * f1:.2f}", f"{100 * acc:.2f}",
                      f"+{secs:.0f} (all fusions)", "-", "-"] for name, (acc, f1) in scores.items()]
            print(rows[-len(scores):], flush=True)
    published = [[f"{name} (KLUE paper)", f"{f1:.2f}", "-", "-", "-", "-"] for name, f1 in PUBLISHED]
    text = "\n".join([
        "## KLUE YNAT (train 44,931 headlines / official dev 9,107, 7 topics, mode 2)", "",
        f"Command: `{' '.join(['python', 'bench/ynat.py', *sys.argv[1:]])}`",
        "", f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}", "",
        table(HEADER, rows + published), "",
        "Dev macro-F1 is the KLUE metric. The published numbers come from the KLUE paper (GPU training of much larger"
        " models on all 45,678 training headlines; 747 of them are missing here). The kept model is the epoch with"
        " the lowest validation loss (a stratified 10% of train), never chosen on dev. Data: KLUE, CC BY-SA 4.0."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
