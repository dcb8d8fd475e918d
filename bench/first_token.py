"""The top layer for the first token only (`kornews.firsttoken`): what it buys in training and prediction,
measured side by side in one process (the full top layer and the first-token one alternate, so the machine's
drift falls on both).

    python bench/first_token.py --run RUN [--run RUN ...] [--steps 8] [--rounds 2]

Training: the default recipe's step (batch 16, 384 tokens, bottom 8 layers cached, top 4 trained, AdamW) on the
same knews8 batches. Prediction: `Classifier` (torch engine, bf16 where the CPU has it) on knews8 test, per run.
"""
import argparse
import contextlib
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish, section  # noqa: E402


@contextlib.contextmanager
def full_top_layer(on: bool):
    """The comparison's other arm: `first_token_only` finds no eligible layer, so every layer runs in full."""
    from kornews import firsttoken
    kept = firsttoken.top_layer
    if on:
        firsttoken.top_layer = lambda model: None
    try:
        yield
    finally:
        firsttoken.top_layer = kept


def training_steps(steps: int, rounds: int) -> dict:
    import torch
    from kornews import config, loop, modeling, runtime
    cfg = config.load(None, [])
    p = loop.prepare(cfg)
    n = 16 * (steps + 1)
    f = p.train
    p.train = dataclasses.replace(f, input_ids=f.input_ids[:n], token_type_ids=f.token_type_ids[:n], doc=f.doc[:n])
    loop.freeze(p.model, cfg)
    with runtime.autocast(cfg.precision):
        p.train = modeling.cache_prefix(p.model, p.train, cfg.freeze_layers, p.pad_id, cfg.eval_batch_size)
    optimizer, _ = loop._optimizer(p, cfg, (0, 1))
    p.model.train()
    batches = [np.arange(i, i + 16) for i in range(0, n, 16)]

    def step(idx):
        batch = modeling.collate(p.train, idx, p.pad_id, labels=p.train_y, multiple=modeling.TRAIN_PAD_MULTIPLE)
        labels = batch.pop("labels")
        start = time.perf_counter()
        with runtime.autocast(cfg.precision):
            logits = modeling.forward(p.model, batch, p.train.prefix).float()
        torch.nn.functional.cross_entropy(logits, labels).backward()
        torch.nn.utils.clip_grad_norm_(p.model.parameters(), cfg.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    times = {"full": [], "first": []}
    for _ in range(rounds):
        for arm in ("full", "first"):
            with full_top_layer(arm == "full"):
                step(batches[0])  # warm-up of this arm's shapes
                times[arm] += [step(idx) for idx in batches[1:]]
    return {arm: statistics.median(t) for arm, t in times.items()}


def prediction(run: str, rounds: int) -> dict:
    from kornews import articles
    from kornews.classifier import Classifier
    clf = Classifier.load(run, hybrid=False, calibrated=False)
    df = articles.read("knews8:test", mode=clf.mode, quiet=True).frame
    clf.predict_proba(df.head(16))  # warm-up
    seconds, probs = {"full": [], "first": []}, {}
    for _ in range(rounds):
        for arm in ("full", "first"):
            with full_top_layer(arm == "full"):
                start = time.perf_counter()
                probs[arm] = clf.predict_proba(df)
                seconds[arm].append(time.perf_counter() - start)
    return {"articles": len(df), "engine": clf.engine.name,
            **{arm: len(df) / min(s) for arm, s in seconds.items()},
            "agree": float((probs["full"].argmax(1) == probs["first"].argmax(1)).mean()),
            "max_diff": float(np.abs(probs["full"] - probs["first"]).max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", default=[], help="a run to predict with (repeatable)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    train = training_steps(args.steps, args.rounds)
    rows = [["training step, default recipe (s/step, median)", f"{train['full']:.3f}", f"{train['first']:.3f}",
             f"{train['full'] / train['first']:.2f}x", "-"]]
    print(rows[-1], flush=True)
    for run in args.run:
        r = prediction(run, args.rounds)
        rows.append([f"prediction, `{run}` ({r['engine']}, knews8 test, articles/s)", f"{r['full']:.1f}",
                     f"{r['first']:.1f}", f"{r['first'] / r['full']:.2f}x",
                     f"{r['agree']:.4f} / {r['max_diff']:.1e}"])
        print(rows[-1], flush=True)
    command = " ".join(["python", "bench/first_token.py", *sys.argv[1:]])
    text = section(
        "First token only: the top layer computed for the row the head reads",
        f"`{command}` — {machine()}, {time.strftime('%Y-%m-%d')}; the two arms alternate in one process "
        f"({args.rounds} rounds), nothing else running.",
        ["what", "full top layer", "first token only", "speed-up", "top topic agrees / largest prob. gap"], rows,
        "A BERT-like classifier's head reads the top layer's output at [CLS] alone, so that layer needs every "
        "token's keys and values but its query, attention output and feed-forward for one row: the logits are "
        "the same function (the gap is bf16 rounding of differently shaped matrix products). `kornews.firsttoken` "
        "applies it in training, validation, the torch engine, explanations and the exported ONNX graph.")
    publish("first-token", text)


if __name__ == "__main__":
    main()
