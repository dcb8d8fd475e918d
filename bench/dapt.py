"""Domain-adaptive masked-language-model steps on the target's own text, before the classifier is trained (issue 19's
optional item), measured before it is built into `kornews adapt`.

    python bench/dapt.py [--target ynat:train] [--backbone me5-small-ko] [--layers 4] [--epochs 1] [--lr 5e-5]
                         [--then-adapt] [--out-dir bench/runs/dapt] [--section dapt]

1. Masked-token training of the backbone's top --layers layers (the layers the default recipe trains; embeddings
   and the rest frozen) on the target's texts, labels never read: 15% of the pieces masked (80% [MASK], 10% a random
   piece, 10% kept); e5 ships no MLM head, so a fresh transform is trained with the decoder tied to the frozen
   embedding table. The encoder is saved as a backbone directory.
2. The default recipe on knews8 from that backbone and from the built-in one (same seed), both scored on knews8 test
   and YNAT dev headlines.
3. --then-adapt: `kornews adapt` (defaults) of the run from the adapted backbone on the same target, scored the same.
Writes the table to docs/benchmarks.md.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, kornews, machine, measured_once, publish, table, yardstick_scores, yardsticks  # noqa: E402

MASK_RATE, BATCH, MAX_LEN = 0.15, 64, 64


def mask_pieces(ids, special, vocab, mask_id, gen):
    """(inputs, targets): BERT's masking of a [batch, len] id tensor; targets -100 where nothing is predicted."""
    import torch
    chosen = (torch.rand(ids.shape, generator=gen) < MASK_RATE) & ~special
    targets = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=gen)
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(ids, mask_id), ids)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    return torch.where(swap, torch.randint(vocab, ids.shape, generator=gen), inputs), targets


def train_mlm(backbone: str, texts: list[str], out: Path, *, layers: int, epochs: int, lr: float, seed: int = 0,
              log=print) -> dict:
    """Masked-token steps on `texts`; the encoder saved to `out` as a backbone directory; returns what it measured."""
    import torch
    from torch import nn
    from transformers import BertModel
    from kornews import backbones
    torch.manual_seed(seed)
    path = backbones.resolve(backbone)
    tok = backbones.load_tokenizer(path)
    bert = BertModel.from_pretrained(path, add_pooling_layer=False, dtype=torch.float32)
    for p in bert.parameters():
        p.requires_grad = False
    trained = bert.encoder.layer[-layers:]
    for p in trained.parameters():
        p.requires_grad = True
    hidden = bert.config.hidden_size
    transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=1e-12))
    bias = nn.Parameter(torch.zeros(bert.config.vocab_size))
    table_ = bert.embeddings.word_embeddings.weight  # tied decoder, frozen as in every recipe here

    enc = tok(texts, truncation=True, max_length=MAX_LEN)["input_ids"]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))  # batches of like lengths: little padding
    batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    steps = epochs * len(batches)
    opt = torch.optim.AdamW([{"params": list(trained.parameters()), "lr": lr},
                             {"params": [*transform.parameters(), bias], "lr": 1e-3}], weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm))))  # warmup, then linear decay
    special = set(tok.all_special_ids)
    gen = torch.Generator().manual_seed(seed)
    bert.train()
    started, step, losses = time.time(), 0, []
    for epoch in range(epochs):
        for b in torch.randperm(len(batches), generator=gen).tolist():
            rows = [enc[i] for i in batches[b]]
            width = max(map(len, rows))
            ids = torch.full((len(rows), width), tok.pad_token_id)
            for r, row in enumerate(rows):
                ids[r, :len(row)] = torch.tensor(row)
            attn = (ids != tok.pad_token_id).long()
            is_special = torch.isin(ids, torch.tensor(sorted(special)))
            inputs, targets = mask_pieces(ids, is_special, bert.config.vocab_size, tok.mask_token_id, gen)
            where = targets != -100
            with torch.autocast("cpu", dtype=torch.bfloat16):
                h = bert(input_ids=inputs, attention_mask=attn).last_hidden_state[where]
                logits = nn.functional.linear(transform(h), table_, bias)
            loss = nn.functional.cross_entropy(logits.float(), targets[where])
            loss.backward()
            nn.utils.clip_grad_norm_([*trained.parameters(), *transform.parameters(), bias], 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
            if step % 50 == 0 or step == steps:
                log(f"mlm step {step}/{steps}: loss {sum(losses[-50:]) / len(losses[-50:]):.3f} "
                    f"({time.time() - started:.0f} s)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    bert.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    first, last = losses[:50], losses[-50:]
    return {"steps": steps, "seconds": round(time.time() - started), "loss_first": sum(first) / len(first),
            "loss_last": sum(last) / len(last), "texts": len(texts)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="ynat:train", help="YNAT split whose headlines are the unlabelled target")
    ap.add_argument("--backbone", default="me5-small-ko")
    ap.add_argument("--layers", type=int, default=4, help="top layers trained (the default recipe trains 4)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-5, help="the encoder layers' rate (the fresh head: 1e-3)")
    ap.add_argument("--then-adapt", action="store_true", help="also `kornews adapt` the run from the new backbone")
    ap.add_argument("--out-dir", default=str(ROOT / "bench" / "runs" / "dapt"))
    ap.add_argument("--section", default="dapt")
    args = ap.parse_args()
    out, started = Path(args.out_dir), time.time()
    out.mkdir(parents=True, exist_ok=True)
    from kornews import articles
    backbone, record = out / "backbone", out / "backbone.json"
    if not record.is_file():
        shutil.rmtree(backbone, ignore_errors=True)
        frame = articles.read(args.target, mode=2, quiet=True).frame  # titles only: the target here is headlines
        info = train_mlm(args.backbone, list(frame["title"]), backbone, layers=args.layers, epochs=args.epochs,
                         lr=args.lr)
        record.write_text(json.dumps(info))
    info = json.loads(record.read_text())

    runs = [("default recipe from the built-in backbone", out / "base", []),
            ("default recipe from the MLM-adapted backbone", out / "dapt", [f"--backbone={backbone}"])]
    costs = {}
    for _, run, extra in runs:
        costs[run] = measured_once(kornews("train", *extra, "--test=knews8:test", "--out", str(run), "--quiet"),
                                   run, run / "final.json")
    if args.then_adapt:  # the unlabelled file bench/adapt.py gives `kornews adapt`: ids and titles only
        from adapt import adapt, unlabeled
        split = args.target.split(":", 1)[1]
        source = out / f"ynat-{split}-unlabeled.csv"
        unlabeled(split, source)
        run = out / "dapt-adapted"
        costs[run] = adapt(out / "dapt", source, run, "self-train", [])
        runs.append(("the MLM-adapted run, then `kornews adapt` (self-training)", run, []))

    from kornews.classifier import Classifier
    ynat, test = yardsticks()
    rows = []
    for name, run, _ in runs:
        y_acc, y_f1, t_acc = yardstick_scores(Classifier.load(run), ynat, test)
        cost = costs[run] or ("-", "-")
        rows.append([name, f"{t_acc:.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}", cost[0], cost[1]])
    text = "\n".join([
        "## Adapting: masked-token steps on the target's text first (domain-adaptive pretraining)", "",
        f"`python bench/dapt.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"{(time.time() - started) / 60:.0f} minutes in all, one process at a time.", "",
        f"Masked-token training: {info['texts']:,} texts of `{args.target}` (titles; labels not read), "
        f"{info['steps']} steps of {BATCH}, top {args.layers} layers at {args.lr:g}, {info['seconds']} s; "
        f"masked-piece loss {info['loss_first']:.2f} over the first 50 steps, {info['loss_last']:.2f} over the last "
        f"50.", "",
        table(["model", "knews8 test (320)", "YNAT dev acc (9,107)", "YNAT dev macro-F1", "train s", "peak MiB"],
              rows)])
    publish(args.section, text)


if __name__ == "__main__":
    main()
