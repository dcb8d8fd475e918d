"""A run reading fewer tokens of each article, with no training: what accuracy each length keeps and what rate it
buys, the floor a student that reads less (`kornews distill RUN --layers 12 --max-len N`) has to beat.

    python bench/short_input.py --run RUN [--lengths 384,256,192,160,144,128,96,64]

One process: the run's `Classifier` (torch, bf16 where the CPU has bf16 units), its input specification's max_len
replaced (the long strategy kept), one pass over knews8 test (320 articles, title + body) per length after a
warm-up; rates in one process, one after another, so their ratios compare. YNAT dev headlines are scored at the run's
own length and the shortest: a headline shorter than both is read whole by each.
"""
import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish, table, yardsticks, yardstick_scores  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/default")
    ap.add_argument("--lengths", default="384,256,192,160,144,128,96,64")
    args = ap.parse_args()
    from kornews import Classifier
    from kornews.featurize import Featurizer
    ynat, test = yardsticks()
    clf = Classifier.load(args.run)
    own = clf.featurizer
    lengths = [int(n) for n in args.lengths.split(",")]
    headline_tokens = max(len(ids) for ids in own(ynat).input_ids)
    clf.predict(test[:32])  # warm-up: first-call allocations, kernel selection
    rows, base = [], None
    for n in lengths:
        clf.featurizer = Featurizer(dataclasses.replace(own.spec, max_len=n), own.tokenizer, own.clusterer)
        start = time.perf_counter()
        pred = clf.predict(test)
        rate = len(test) / (time.perf_counter() - start)
        base = base or rate
        acc = sum(p == y for p, y in zip(pred, test["label"])) / len(test)
        cross = f"{yardstick_scores(clf, ynat, test)[0]:.4f}" if n in (own.spec.max_len, min(lengths)) else ""
        rows.append([n, f"{acc:.4f}", cross, f"{rate:.1f}", f"{rate / base:.2f}x"])
        print(*rows[-1], flush=True)
    text = "\n".join([
        "## A run reading fewer tokens, untrained (the floor of a student that reads less)", "",
        f"`python bench/short_input.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"run `{args.run}` ({own.spec.max_len} tokens, {own.spec.long_strategy}), its max_len replaced, nothing "
        "retrained; one process, one pass per length.", "",
        table(["max_len", "knews8 test accuracy", "YNAT dev accuracy", "articles/s (knews8 test)",
               "vs the first row"], rows), "",
        f"knews8 test: 320 articles (one article is 0.31 points). The longest YNAT dev headline is {headline_tokens} "
        "tokens with the special ones, so every length here reads each headline whole."])
    publish("short-input", text)


if __name__ == "__main__":
    main()
