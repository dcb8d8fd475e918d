"""Where one prediction pass spends its time: reading, tokenising, padding, embeddings, attention, feed-forward,
the head, and putting results back; then the levers: batch size and torch.compile.

    python bench/pass_profile.py --run RUN [--run STUDENT ...] [--compile]

For each run, in this one process (nothing else running): `Classifier.load(run)` with its default engine, a warm-up
on 32 articles, then one pass over the knews8 test articles (title + body, the run's own input) with forward hooks
on the encoder's blocks (wall time of each block's forward, summed by kind). Padding: the share of the batches'
positions that are padding, as `kornews predict` batches them (sorted by length) against input order.
Batch sizes: articles/s of a whole pass at each. `--compile`: `torch.compile(dynamic=True)` of the model, the first
pass (compiling) and the next one timed.
"""
import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish, table  # noqa: E402

KINDS = {  # a BERT block's module class → what it does
    "BertEmbeddings": "embeddings (lookup + positions + LayerNorm)",
    "BertSelfAttention": "attention: q/k/v projections + scaled dot-product",
    "BertSelfOutput": "attention: output projection + residual LayerNorm",
    "BertIntermediate": "feed-forward: up projection + GELU",
    "BertOutput": "feed-forward: down projection + residual LayerNorm",
    "BertPooler": "head: pooler",
    "Linear@classifier": "head: classifier",
}


def hooked(model, spent):
    """Forward hooks adding each block's wall time to `spent[kind]`."""
    handles = []
    for name, module in model.named_modules():
        kind = KINDS.get(type(module).__name__) or (KINDS["Linear@classifier"] if name == "classifier" else None)
        if kind is None:
            continue
        started = {}
        handles.append(module.register_forward_pre_hook(lambda m, a, s=started: s.__setitem__(0, time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda m, a, o, s=started, k=kind: spent.__setitem__(k, spent[k] + time.perf_counter() - s[0])))
    return handles


def padding_share(features, batch_size, sort: bool) -> float:
    import numpy as np
    lengths = np.array([len(r) for r in features.input_ids])
    order = np.argsort(-lengths, kind="stable") if sort else np.arange(len(lengths))
    padded = sum(len(b) * lengths[b].max() for b in np.array_split(order, -(-len(order) // batch_size)))
    return 1 - lengths.sum() / padded


def profile(run: str, df, do_compile: bool) -> tuple[list[list], list[str]]:
    import torch
    from kornews import Classifier, modeling
    clf = Classifier.load(run)
    clf.predict_proba(df.head(32))  # warm-up
    spent = defaultdict(float)
    start = time.perf_counter()
    frame = clf.read(df, quiet=True).frame
    spent["reading the articles"] = time.perf_counter() - start
    start = time.perf_counter()
    feats = clf.featurizer(frame)
    spent["tokenising"] = time.perf_counter() - start
    real_collate = modeling.collate

    def timed_collate(*a, **k):
        t = time.perf_counter()
        out = real_collate(*a, **k)
        spent["padding into tensors (collate)"] += time.perf_counter() - t
        return out
    engine_time = [0.0]

    def engine(batch):
        t = time.perf_counter()
        out = clf.engine(batch)
        engine_time[0] += time.perf_counter() - t
        return out
    handles = hooked(clf.engine.model, spent)
    modeling.collate = timed_collate
    start = time.perf_counter()
    try:
        modeling.doc_logits_with(engine, feats, clf.featurizer.pad_id, clf.batch_size)
    finally:
        modeling.collate = real_collate
        for h in handles:
            h.remove()
    loop = time.perf_counter() - start
    blocks = sum(v for k, v in spent.items() if k in KINDS.values())
    spent["encoder glue (masks, dtype casts, logits to numpy)"] = engine_time[0] - blocks
    spent["per-article mean, results back in order"] = loop - engine_time[0] - spent["padding into tensors (collate)"]
    total = sum(spent.values())
    rows = [[kind, f"{seconds:.2f}", f"{seconds / total:.1%}"] for kind, seconds in
            sorted(spent.items(), key=lambda kv: -kv[1])]
    rows.append(["**whole pass**", f"{total:.2f}", f"{len(df) / total:.1f} articles/s"])
    notes = [f"{clf.engine.name}, {len(feats)} windows; padding {padding_share(feats, clf.batch_size, True):.1%} "
             f"of positions sorted by length (as predicted), {padding_share(feats, clf.batch_size, False):.1%} "
             f"in input order"]
    rates = []
    for size in (8, 16, 32, 64):
        clf.batch_size = size
        times = []
        for _ in range(2):
            t = time.perf_counter()
            clf.predict_proba(df)
            times.append(time.perf_counter() - t)
        rates.append(f"{size}: {len(df) / statistics.median(times):.1f}")
    clf.batch_size = 32
    notes.append("articles/s by batch size — " + ", ".join(rates))
    if do_compile:
        eager = clf.engine.model
        t = time.perf_counter()
        clf.predict_proba(df)
        plain = time.perf_counter() - t
        clf.engine.model = torch.compile(eager, dynamic=True)
        t = time.perf_counter()
        clf.predict_proba(df)
        first = time.perf_counter() - t
        t = time.perf_counter()
        clf.predict_proba(df)
        second = time.perf_counter() - t
        notes.append(f"torch.compile(dynamic=True): first pass {first:.1f} s (compiling), then {len(df) / second:.1f} "
                     f"articles/s against {len(df) / plain:.1f} eager")
    return rows, notes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--section", default="profile")
    args = ap.parse_args()
    from kornews import articles
    df = articles.read("knews8:test", mode=3, quiet=True).frame
    parts = ["## Where a prediction pass spends its time", "",
             f"`python bench/pass_profile.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
             f"knews8 test ({len(df)} articles, title + body, each run's own input), one pass after a warm-up.", ""]
    for run in args.run:
        rows, notes = profile(run, df, args.compile)
        parts += [f"### `{run}`", "", table(["part", "seconds", "share"], rows), "", *[f"- {n}" for n in notes], ""]
    publish(args.section, "\n".join(parts))


if __name__ == "__main__":
    main()
