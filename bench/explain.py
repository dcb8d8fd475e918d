"""Faithful explanations: deleting the K words an explanation names lowers the predicted topic's probability far more
than deleting K random words of the same article; and what `--explain K` costs against a plain prediction.

    python bench/explain.py --run RUN [--k 5] [--seed 0]     # on knews8 test, e.g. the run `kornews demo` left

Per article: the encoder's topic and its probability p; the top-K words (`Classifier.explain`); p after deleting
every occurrence of those words from title and body, and after deleting K words drawn at random from the same
article's words (explained words excluded). Times: the whole test split through `predict_proba`, then `explain`,
side by side in this process.
"""
import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish, table  # noqa: E402


def deleted(text: str, words) -> str:
    for w in sorted(words, key=len, reverse=True):
        text = text.replace(w, " ")
    return re.sub(r"\s+", " ", text).strip()


def nonempty(article: dict) -> dict:
    return article if article["title"] or article["body"] else {"title": "."}  # all of it deleted: a dot


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from kornews import Classifier
    from kornews.data import articles
    clf = Classifier.load(args.run, hybrid=False, calibrated=False)  # the encoder the explanation is of
    test = articles.read("knews8:test", mode=clf.mode).frame
    clf.predict_proba(test.head(8)), clf.explain(test.head(2), args.k)  # warm both paths before timing
    t = time.perf_counter()
    probs = clf.predict_proba(test)
    plain = time.perf_counter() - t
    t = time.perf_counter()
    explained = clf.explain(test, args.k)
    cost = time.perf_counter() - t
    rng = np.random.default_rng(args.seed)
    top_rows, rand_rows = [], []
    for (_, a), words in zip(test.iterrows(), explained):
        chosen = [w.word for w in words]
        pool = sorted({w for w in (a.title + " " + a.body).split() if w not in chosen})
        drawn = list(rng.choice(pool, size=min(len(chosen), len(pool)), replace=False)) if pool else []
        top_rows.append({"title": deleted(a.title, chosen), "body": deleted(a.body, chosen)})
        rand_rows.append({"title": deleted(a.title, drawn), "body": deleted(a.body, drawn)})
    topic = probs.argmax(1)
    rows_of = np.arange(len(test))
    after_top = clf.predict_proba([nonempty(r) for r in top_rows])
    after_rand = clf.predict_proba([nonempty(r) for r in rand_rows])
    p0 = probs[rows_of, topic]
    drop_top = float(np.mean(p0 - after_top[rows_of, topic]))
    drop_rand = float(np.mean(p0 - after_rand[rows_of, topic]))
    flipped = float(np.mean(after_top.argmax(1) != topic))
    rows = [[f"top-{args.k} words of the explanation", f"{drop_top:.4f}", f"{flipped:.1%}"],
            [f"{args.k} random words of the article", f"{drop_rand:.4f}", "-"]]
    text = "\n".join([
        "## Explanations: faithfulness and cost", "",
        f"`python bench/explain.py --run RUN --k {args.k}` on knews8 test ({len(test)} articles, the run `kornews "
        f"demo` left; gradient × input on the word embeddings, fp32) — {machine()}, "
        f"{time.strftime('%Y-%m-%d')}.", "",
        table(["deleted from each article", "mean drop of the predicted topic's probability", "topic changed"],
              rows),
        "", "Deleting the explanation's words lowers the topic's probability "
        f"**{drop_top / max(drop_rand, 1e-9):.1f}×** as much as deleting as many random words. Cost: `explain` "
        f"{cost:.1f} s against a plain prediction "
        f"{plain:.1f} s for the same articles in this process: **{cost / plain:.1f}×** (explanations run the fp32 "
        "PyTorch model one article at a time; predictions the fastest engine in batches)."])
    publish("explain", text)


if __name__ == "__main__":
    main()
