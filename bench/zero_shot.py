"""The zero-shot floor: the pretrained encoder against topic descriptions, no training, on both yardsticks.

    python bench/zero_shot.py [--backbone me5-small] [--section zero-shot]

Articles are embedded once; each label set then scores them:
- descriptions: `zeroshot.TOPICS` (section name and what it holds), knews8's 8 topics; YNAT through the usual map
  (culture and entertain both count as 생활문화);
- names only: the section name alone ("정치 뉴스");
- YNAT's 7 names: the same descriptions under YNAT's labels (no entertain topic), YNAT dev only.
knews8: the train split (1,280, where a choice between label sets would be made), the 5 stratified folds over all
1,600 articles (seed 0, as bench/knews8_cv.py: no training, so a fold is just a fifth of the articles), the test
split (320). YNAT dev: 9,107 headlines (title only). Writes the table to docs/benchmarks.md.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TO_YNAT, machine, mapped_scores, publish, table, yardsticks  # noqa: E402
from knews8_cv import knews8_all, mean_sd  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="me5-small")
    ap.add_argument("--section", default="zero-shot")
    args = ap.parse_args()
    from sklearn.model_selection import StratifiedKFold

    from kornews import zeroshot
    from kornews.clusters import article_text
    started = time.time()
    ynat, test = yardsticks()
    everything = knews8_all()  # train rows first, then test (ids "train-…", "test-…")
    clf = zeroshot.ZeroShot("knews8", args.backbone).fit()
    t0 = time.perf_counter()
    knews8_vectors = clf.transform(article_text(everything))
    knews8_rate = len(everything) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    ynat_vectors = clf.transform(article_text(ynat))
    ynat_rate = len(ynat) / (time.perf_counter() - t0)
    is_test = everything["id"].str.startswith("test-").to_numpy()
    truth = everything["label"].to_numpy()
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(everything, truth))

    label_sets = {"descriptions": zeroshot.TOPICS,
                  "names only": {k: v.split(":")[0] for k, v in zeroshot.TOPICS.items()}}
    rows = []
    for name, found in label_sets.items():
        scorer = zeroshot.ZeroShot(found, args.backbone).fit()
        probs = scorer.proba(knews8_vectors)
        pred = np.array([scorer.labels_[i] for i in probs.argmax(1)])
        per_fold = [float(np.mean(pred[held] == truth[held])) for _, held in folds]
        y_acc, y_f1 = mapped_scores(scorer.proba(ynat_vectors), scorer.labels_, list(ynat["label"]), TO_YNAT)
        rows.append([name, f"{np.mean(pred[~is_test] == truth[~is_test]):.4f}", mean_sd(per_fold),
                     f"{np.mean(pred[is_test] == truth[is_test]):.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}"])
    scorer = zeroshot.ZeroShot("ynat", args.backbone).fit()
    y_acc, y_f1 = mapped_scores(scorer.proba(ynat_vectors), scorer.labels_, list(ynat["label"]))
    rows.append(["descriptions, YNAT's 7 names", "-", "-", "-", f"{y_acc:.4f}", f"{100 * y_f1:.2f}"])

    header = ["label set", "knews8 train (1,280)", "knews8 5 folds (1,600)", "knews8 test (320)",
              "YNAT dev acc (9,107)", "YNAT dev macro-F1"]
    text = "\n".join([
        f"`python bench/zero_shot.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"backbone {args.backbone} (fp32, first {zeroshot.MAX_LEN} tokens of title + body), temperature "
        f"{zeroshot.TEMPERATURE}; {(time.time() - started) / 60:.0f} minutes in all.", "",
        table(header, rows), "",
        f"No training: every number is the pretrained encoder. Speed of the embedding pass: {knews8_rate:.1f} "
        f"knews8 articles/s, {ynat_rate:.1f} YNAT headlines/s (one process, 2 cores). The descriptions were written "
        "once from the section names (src/kornews/zeroshot.py) and not tuned on these splits."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
