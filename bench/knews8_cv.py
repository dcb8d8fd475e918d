"""Two yardsticks for a recipe: 5-fold cross-validation over all of knews8, and news from another source.

    python bench/knews8_cv.py [--folds 5] [--out-dir bench/runs/cv] [--cross-run RUN] [--skip-cv] [--seeds 42,1,2]
                              [--section knews8-cv] [--key=value ...]

1. Cross-validation: the 1,600 knews8 articles (train + test) in 5 stratified folds (seed 0; the same folds for
   every model). Per fold, TF-IDF char 1-3 + LinearSVC and `kornews train` (default recipe plus any --key=value;
   its validation split is taken from the fold's training part) each train on four folds and are scored on the
   fifth; then each fusion of the hybrid (`kornews hybrid`: TF-IDF logistic regression on the fold run's
   training part, fusion fitted on its validation split) on the same fifth. Accuracy and macro-F1 per fold,
   mean ± sd, and paired differences against TF-IDF.
2. Cross-source: each model trained on the knews8 train split alone, scored on YNAT dev headlines (9,107,
   Yonhap; title only, empty body) through the label map below. `--cross-run` reuses a finished run of the same
   recipe (bench/knews8.py leaves one in bench/runs/knews8-mode3). `--seeds` trains the recipe once more per
   further seed and adds each seed's score, their spread and their ensemble (mean probability).

Finished folds are kept in --out-dir and skipped on a rerun. The table goes to docs/benchmarks.md.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    TO_YNAT,
    hybrid_scores,
    kornews,
    machine,
    mapped_scores,
    measured,
    publish,
    table,
)


def knews8_all():
    import pandas as pd

    from kornews.data import articles
    parts = [articles.read(f"knews8:{split}", mode=3).frame.assign(id=lambda d, s=split: s + "-" + d["id"])
             for split in ("train", "test")]
    return pd.concat(parts, ignore_index=True)


def as_csv(df, path: Path):
    """Articles back in knews8's own columns, so `kornews train` and `evaluate` read them as the dataset."""
    df.rename(columns={"body": "cleanBody", "label": "category"})[["id", "title", "cleanBody", "category"]] \
        .to_csv(path, index=False)


def tfidf_predict(train, articles) -> list:
    from kornews.stats import tfidf
    clf = tfidf.tfidf_svm().fit(tfidf.texts(train, 3), train["label"])
    return list(clf.predict(tfidf.texts(articles, 3)))


def tfidf_scores(train, test) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score
    pred = tfidf_predict(train, test)
    return accuracy_score(test["label"], pred), f1_score(test["label"], pred, average="macro")


def encoder_fold(fold_dir: Path, overrides) -> tuple[float, float, float]:
    """(accuracy, macro-F1, training seconds) of the recipe trained on the fold's train.csv, scored on test.csv."""
    run, done = fold_dir / "run", fold_dir / "result.json"
    if done.is_file():
        r = json.loads(done.read_text())
        return r["accuracy"], r["macro_f1"], r["seconds"]
    import shutil
    shutil.rmtree(run, ignore_errors=True)
    secs, _ = measured(kornews("train", str(ROOT / "recipes" / "knews8.yaml"), "--quiet", "--out", str(run),
                               f"--train={fold_dir / 'train.csv'}", "--test=null", *overrides),
                       log=fold_dir / "train.log")
    measured(kornews("evaluate", str(run), str(fold_dir / "test.csv"), "--quiet"))
    report = json.loads((run / "report.json").read_text())
    result = {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"], "seconds": secs}
    done.write_text(json.dumps(result))
    return result["accuracy"], result["macro_f1"], secs


def train_knews8(run: Path, overrides, log: Path) -> Path:
    if not (run / "final.json").is_file():
        measured(kornews("train", str(ROOT / "recipes" / "knews8.yaml"), "--quiet", "--out", str(run), "--test=null",
                         *overrides), log=log)
    return run


def cross_source(run: Path | None, overrides, out_dir: Path, recipe: str, seeds=()) -> tuple[list, list]:
    """Rows for the cross-source table: TF-IDF, the encoder and its hybrids, trained on knews8 train, on YNAT dev,
    with the same models' accuracy on the knews8 test split beside (in-domain, 320 articles: a rough check).
    With `seeds` (the first is the run's), the recipe also trains once per further seed: each seed's row, their
    mean ± sd, and their ensemble (mean probability)."""
    from sklearn.metrics import accuracy_score, f1_score

    from kornews import Classifier
    from kornews.data import articles
    ynat = articles.read("ynat:dev", mode=2).frame
    truth = list(ynat["label"])
    train, test = articles.read("knews8", mode=3).frame, articles.read("knews8:test", mode=3).frame
    tfidf_pred = tfidf_predict(train, ynat.assign(body=""))
    first = [f"--seed={seeds[0]}"] if seeds else []
    run = run or train_knews8(out_dir / "knews8-train", [*overrides, *first], out_dir / "knews8-train.log")
    import shutil
    copy = out_dir / "cross-run"  # the hybrid is written into a copy: the given run stays as it was
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy)
    scores = hybrid_scores(copy, ynat.assign(body=""), truth, TO_YNAT)
    in_domain = hybrid_scores(copy, test)
    mapped = [TO_YNAT[p] for p in tfidf_pred]
    rows = [["TF-IDF char 1-3 + LinearSVC", f"{accuracy_score(truth, mapped):.4f}",
             f"{f1_score(truth, mapped, average='macro'):.4f}", f"{tfidf_scores(train, test)[0]:.4f}"]]
    rows += [[recipe if name == "encoder" else name, f"{acc:.4f}", f"{f1:.4f}", f"{in_domain[name][0]:.4f}"]
             for name, (acc, f1) in scores.items()]
    if len(seeds) > 1:
        runs = [run] + [train_knews8(out_dir / f"knews8-train-seed{s}", [*overrides, f"--seed={s}"],
                                     out_dir / f"knews8-train-seed{s}.log") for s in seeds[1:]]
        probs = []
        for r in runs:
            clf = Classifier.load(r, hybrid=False)
            probs.append((clf.predict_proba(ynat.assign(body="")), clf.predict_proba(test), clf.labels))
        each = [(*mapped_scores(py, labels, truth, TO_YNAT), mapped_scores(pt, labels, list(test["label"]))[0])
                for py, pt, labels in probs]
        rows += [[f"{recipe} --seed={s}", *(f"{v:.4f}" for v in values)] for s, values in zip(seeds, each)]
        rows.append([f"mean ± sd of the {len(seeds)} seeds", *(mean_sd(v) for v in zip(*each))])
        labels = probs[0][2]
        ens_y = np.mean([py for py, _, _ in probs], axis=0)
        ens_t = np.mean([pt for _, pt, _ in probs], axis=0)
        acc, f1 = mapped_scores(ens_y, labels, truth, TO_YNAT)
        rows.append([f"ensemble of the {len(seeds)} seeds (mean probability)", f"{acc:.4f}", f"{f1:.4f}",
                     f"{mapped_scores(ens_t, labels, list(test['label']))[0]:.4f}"])
    return rows, [len(ynat)]


def mean_sd(values) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out-dir", default=str(ROOT / "bench" / "runs" / "cv"))
    ap.add_argument("--cross-run", help="a finished run of the same recipe on knews8 train (skips training it)")
    ap.add_argument("--skip-cv", action="store_true", help="only the cross-source yardstick")
    ap.add_argument("--section", default="knews8-cv")
    ap.add_argument("--seeds", help="cross-source only: also train the recipe with these seeds (the first is the "
                    "run's own, e.g. 42,1,2) and score each and their ensemble")
    args, overrides = ap.parse_known_args()
    from sklearn.model_selection import StratifiedKFold
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    recipe = " ".join(["fine-tuned, default recipe", *overrides])
    cv_rows = []
    if not args.skip_cv:
        df = knews8_all()
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(df, df["label"])
        scores = {}
        for k, (tr, te) in enumerate(folds, 1):
            fold_dir = out / f"fold{k}"
            fold_dir.mkdir(exist_ok=True)
            train, test = df.iloc[tr].reset_index(drop=True), df.iloc[te].reset_index(drop=True)
            as_csv(train, fold_dir / "train.csv")
            as_csv(test, fold_dir / "test.csv")
            fold = {"TF-IDF char 1-3 + LinearSVC": tfidf_scores(train, test)}
            e_acc, e_f1, secs = encoder_fold(fold_dir, overrides)
            fold[recipe] = (e_acc, e_f1)
            extra = hybrid_scores(fold_dir / "run", test)
            extra.pop("encoder")  # the same model as the line above, scored by evaluate
            fold.update(extra)
            for name, (acc, f1) in fold.items():
                scores.setdefault(name, []).append((acc, f1))
            print(f"fold {k} ({secs:.0f} s): " + "; ".join(f"{n} {a:.4f}" for n, (a, _) in fold.items()), flush=True)
        base = scores["TF-IDF char 1-3 + LinearSVC"]
        for name, values in scores.items():
            accs, f1s = zip(*values)
            cv_rows.append([name, " ".join(f"{a:.3f}" for a in accs), mean_sd(accs), mean_sd(f1s)])
        for name, values in scores.items():
            if name.startswith("TF-IDF"):
                continue
            d_acc = [a - b for (a, _), (b, _) in zip(values, base)]
            d_f1 = [a - b for (_, a), (_, b) in zip(values, base)]
            cv_rows.append([f"{name} − TF-IDF SVM (paired)", " ".join(f"{d:+.3f}" for d in d_acc), mean_sd(d_acc),
                            mean_sd(d_f1)])

    cross_run = Path(args.cross_run) if args.cross_run else None
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else []
    cross_rows, (n_ynat,) = cross_source(cross_run, overrides, out, recipe, seeds)

    command = " ".join(["python", "bench/knews8_cv.py", *sys.argv[1:]])
    heading = "## knews8: cross-validation and another source" if cv_rows else f"## Another source: {recipe}"
    parts = [heading, "",
             f"Command: `{command}`  ", f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}; "
             f"{(time.time() - started) / 60:.0f} min", ""]
    if cv_rows:
        parts += [f"{args.folds}-fold stratified cross-validation over all 1,600 knews8 articles (seed 0, the same "
                  "folds for both models; the encoder's validation split comes from each fold's training part):", "",
                  table(["model", "accuracy per fold", "accuracy mean ± sd", "macro-F1 mean ± sd"], cv_rows), ""]
    parts += [f"Trained on the knews8 train split alone, scored on YNAT dev headlines ({n_ynat:,}, another source "
              "and period; title only) through the map it→IT과학, economy→경제, society→사회, culture and "
              "entertain→생활문화, international→세계, sport→스포츠, politics→정치:", "",
              table(["model", "YNAT dev accuracy", "YNAT dev macro-F1", "knews8 test accuracy"], cross_rows)]
    text = "\n".join(parts)
    publish(args.section, text)


if __name__ == "__main__":
    main()
