"""The zero-shot floor: the pretrained encoder against topic descriptions, no training, on both yardsticks.

    python bench/zero_shot.py [--backbone me5-small] [--run RUN] [--section zero-shot]

Articles are embedded once; each label set then scores them:
- descriptions: `kornews.model.descriptions.TOPICS` (section name and what it holds), knews8's 8 topics; YNAT
  through the usual map (culture and entertain both count as 생활문화);
- names only: the section name alone ("정치 뉴스");
- YNAT's 7 names: the same descriptions under YNAT's labels (no entertain topic), YNAT dev only.
knews8: the train split (1,280, where a choice between label sets would be made), the 5 stratified folds over all
1,600 articles (seed 0, as bench/knews8_cv.py: no training, so a fold is just a fifth of the articles), the test
split (320). YNAT dev: 9,107 headlines (title only). With --run (a knews8 run), also the run mixed with the
zero-shot classifier in log-probability, p ∝ p_run^(1-w) · p_zero-shot^w, the weight w chosen on the run's own
validation split. Writes the table to docs/benchmarks.md.
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
    ap.add_argument("--run", help="a knews8 run to mix with the zero-shot classifier")
    ap.add_argument("--section", default="zero-shot")
    args = ap.parse_args()
    from sklearn.model_selection import StratifiedKFold

    from kornews.model import descriptions
    from kornews.model.embedding import article_text
    started = time.time()
    ynat, test = yardsticks()
    everything = knews8_all()  # train rows first, then test (ids "train-…", "test-…")
    clf = descriptions.ZeroShot("knews8", args.backbone).fit()
    t0 = time.perf_counter()
    knews8_vectors = clf.transform(article_text(everything))
    knews8_rate = len(everything) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    ynat_vectors = clf.transform(article_text(ynat))
    ynat_rate = len(ynat) / (time.perf_counter() - t0)
    is_test = everything["id"].str.startswith("test-").to_numpy()
    truth = everything["label"].to_numpy()
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(everything, truth))

    label_sets = {"descriptions": descriptions.TOPICS,
                  "names only": {k: v.split(":")[0] for k, v in descriptions.TOPICS.items()}}
    rows = []
    for name, found in label_sets.items():
        scorer = descriptions.ZeroShot(found, args.backbone).fit()
        probs = scorer.proba(knews8_vectors)
        pred = np.array([scorer.labels_[i] for i in probs.argmax(1)])
        per_fold = [float(np.mean(pred[held] == truth[held])) for _, held in folds]
        y_acc, y_f1 = mapped_scores(scorer.proba(ynat_vectors), scorer.labels_, list(ynat["label"]), TO_YNAT)
        rows.append([name, f"{np.mean(pred[~is_test] == truth[~is_test]):.4f}", mean_sd(per_fold),
                     f"{np.mean(pred[is_test] == truth[is_test]):.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}"])
    scorer = descriptions.ZeroShot("ynat", args.backbone).fit()
    y_acc, y_f1 = mapped_scores(scorer.proba(ynat_vectors), scorer.labels_, list(ynat["label"]))
    rows.append(["descriptions, YNAT's 7 names", "-", "-", "-", f"{y_acc:.4f}", f"{100 * y_f1:.2f}"])

    mixing = mix(args.run, descriptions.ZeroShot("knews8", args.backbone).fit(), everything, knews8_vectors,
                 ynat_vectors, ynat, test) if args.run else []

    header = ["label set", "knews8 train (1,280)", "knews8 5 folds (1,600)", "knews8 test (320)",
              "YNAT dev acc (9,107)", "YNAT dev macro-F1"]
    text = "\n".join([
        "## Zero-shot: the pretrained encoder against topic descriptions", "",
        f"`python bench/zero_shot.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"backbone {args.backbone} (fp32, first {descriptions.MAX_LEN} tokens of title + body), temperature "
        f"{descriptions.TEMPERATURE}; {(time.time() - started) / 60:.0f} minutes in all.", "",
        table(header, rows), "", *mixing,
        f"No training: every number is the pretrained encoder. Speed of the embedding pass: {knews8_rate:.1f} "
        f"knews8 articles/s, {ynat_rate:.1f} YNAT headlines/s (one process, 2 cores). The descriptions were written "
        "once from the section names (src/kornews/model/descriptions.py) and not tuned on these splits."])
    publish(args.section, text)


def mix(run, scorer, everything, knews8_vectors, ynat_vectors, ynat, test) -> list[str]:
    """Lines of a table: the run, zero-shot, and their log-probability mixes at a few weights, on the run's
    validation split, knews8 test and YNAT dev."""
    from kornews.data import articles
    from kornews.data.folds import validation_split
    from kornews.inference.classifier import Classifier
    from kornews.training import config
    cfg = config.read_run(run)
    val = validation_split(cfg, articles.read(cfg.train, mode=cfg.mode, columns=cfg.columns, quiet=True).frame)[1]
    clf = Classifier.load(run)
    where = {i: n for n, i in enumerate(everything["id"])}
    order = [scorer.labels_.index(label) for label in clf.labels]  # zero-shot columns in the run's label order

    def zs(vectors):
        return scorer.proba(vectors)[:, order]
    sets = {"validation": (val, zs(knews8_vectors[[where["train-" + i] for i in val["id"]]]), None),
            "test": (test, zs(knews8_vectors[[where["test-" + i] for i in test["id"]]]), None),
            "ynat": (ynat, zs(ynat_vectors), TO_YNAT)}
    run_probs = {name: clf.predict_proba(df) for name, (df, _, _) in sets.items()}
    rows = []
    for w in (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0):
        cells = []
        for name, (df, p_zs, to) in sets.items():
            logp = (1 - w) * np.log(run_probs[name] + 1e-12) + w * np.log(p_zs + 1e-12)
            acc, f1 = mapped_scores(logp, clf.labels, list(df["label"]), to)
            cells += [f"{acc:.4f}"] + ([f"{100 * f1:.2f}"] if to else [])
        rows.append([f"{w:g}", *cells])
    best = max(rows, key=lambda r: (float(r[1]), -float(r[0])))  # ties: the lighter mix
    return ["", f"The run `{run}` mixed with zero-shot (w = 0: the run alone, 1: zero-shot alone):", "",
            table(["w", f"validation ({len(val)})", "knews8 test", "YNAT dev acc", "YNAT dev macro-F1"], rows), "",
            f"Chosen on validation: w = {best[0]}."]


if __name__ == "__main__":
    main()
