"""Where the fine-tuned model and TF-IDF go wrong on knews8 test: together or apart.

    python bench/errors.py RUN [--test knews8:test]

RUN is an evaluated run (bench/knews8.py leaves bench/runs/knews8-mode3). The TF-IDF + linear SVM is fitted
here on the same training data and mode. Articles that both get wrong bound what either can reach, and listing
them shows whether they are model errors or labels a reader would dispute.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py; bench scripts are not a package
from common import publish, table  # noqa: E402

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from kornews import articles, tfidf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--test", default="knews8:test")
    args = ap.parse_args()
    run = Path(args.run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    mode = int(cfg["mode"])
    tr, te = articles.read(cfg["train"], mode=mode).frame, articles.read(args.test, mode=mode).frame
    svm = tfidf.tfidf_svm().fit(tfidf.texts(tr, mode), tr["label"])
    te = te.assign(tfidf=svm.predict(tfidf.texts(te, mode)))
    ours = pd.read_csv(run / "predictions.csv", dtype=str, keep_default_na=False)[["id", "pred"]]
    te = te.merge(ours, on="id", how="inner", validate="one_to_one")
    ft_ok, tf_ok = te["pred"] == te["label"], te["tfidf"] == te["label"]
    n = len(te)
    counts = [("both right", ft_ok & tf_ok), ("only the fine-tuned model right", ft_ok & ~tf_ok),
              ("only TF-IDF right", ~ft_ok & tf_ok), ("both wrong", ~ft_ok & ~tf_ok)]
    rows = [[name, int(mask.sum()), f"{mask.mean():.4f}"] for name, mask in counts]
    wrong = te[~ft_ok & ~tf_ok]
    conflicting = tr.groupby("title")["label"].nunique().gt(1).sum()
    duplicates = (f"Repeated titles: {te['title'].duplicated().sum()} within test,"
                  f" {te['title'].isin(set(tr['title'])).sum()} shared with train, {conflicting} in train under two"
                  " different labels.")
    listing = [[r.label, r.pred, r.tfidf, r.title[:60].replace("|", "/")] for r in wrong.itertuples()]
    text = "\n".join([
        f"## knews8 errors: fine-tuned (mode {mode}) against TF-IDF on {n} test articles", "",
        f"Command: `{' '.join(['python', 'bench/errors.py', *sys.argv[1:]])}`; {time.strftime('%Y-%m-%d')}", "",
        table(["articles", "count", "share"], rows), "",
        f"Fine-tuned accuracy {ft_ok.mean():.4f}, TF-IDF {tf_ok.mean():.4f}; an oracle picking the right one of the"
        f" two would score {1 - (~ft_ok & ~tf_ok).mean():.4f}. {duplicates} The articles both get wrong, and what"
        " each said:", "",
        table(["label", "fine-tuned", "TF-IDF", "title"], listing)])
    publish("knews8-errors", text)


if __name__ == "__main__":
    main()
