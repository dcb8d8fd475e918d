"""How the head starts: a recipe's model before its first step, its head as each `head_init` leaves it (random,
topics: the topics' descriptions, probe: LP-FT's logistic regression on the training articles), scored on the
run's validation split, knews8 test and YNAT dev headlines (another outlet and period).

    python bench/head_start.py [--recipe recipes/knews8.yaml] [--section head-start] [--key=value ...]

What the head reads is computed once per set, from the model as training starts (the frozen prefix cached as
training caches it); each start is one linear layer over it, fitted by `loop.head_start` as `kornews train` fits
it. Nothing is trained: the table is where fine-tuning starts from, and `topics` uses no label at all.
"""
import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, TO_YNAT, machine, mapped_scores, publish, table, yardsticks  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "knews8.yaml"))
    ap.add_argument("--section", default="head-start")
    args, extra = ap.parse_known_args()
    import torch
    from kornews import config, loop, probing, runtime
    started = time.time()
    cfg = config.load(args.recipe, extra)
    torch.manual_seed(cfg.seed)  # the random head as `kornews train` draws it
    p = loop.prepare(cfg)
    loop.freeze_and_cache(p, cfg)
    ynat, _ = yardsticks()
    with runtime.autocast(cfg.precision):
        reads = {name: probing.head_inputs(p.model, feats, p.pad_id, cfg.eval_batch_size)
                 for name, feats in (("val", p.val), ("test", p.test),
                                     ("ynat", p.featurizer(p.featurizer.with_clusters(ynat))))}
    layer = probing.head_layer(p.model)
    heads = {"random": (layer.weight.detach().float().numpy(), layer.bias.detach().float().numpy(), "-")}
    for how in ("topics", "probe"):
        head = loop.head_start(p, dataclasses.replace(cfg, head_init=how))
        heads[how] = (head.weight, head.bias, f"{'scale' if how == 'topics' else 'C'} {head.setting:g}")
    labels = [p.id2label[i] for i in range(len(p.id2label))]
    truth = {"val": [labels[i] for i in np.asarray(p.val_y)[p.val.doc]],
             "test": [labels[i] for i in np.asarray(p.test_y)[p.test.doc]], "ynat": list(ynat["label"])}
    rows = []
    for how, (weight, bias, setting) in heads.items():
        scores = {name: mapped_scores(x @ weight.T + bias, labels, truth[name], TO_YNAT if name == "ynat" else None)
                  for name, x in reads.items()}
        rows.append([how, setting, f"{scores['val'][0]:.4f}", f"{scores['test'][0]:.4f}",
                     f"{scores['ynat'][0]:.4f}", f"{100 * scores['ynat'][1]:.2f}"])
    text = "\n".join([
        "## How the head starts (before the first step)", "",
        f"`python bench/head_start.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"{Path(args.recipe).name}, seed {cfg.seed}; {(time.time() - started) / 60:.0f} minutes in all. One window "
        "per article (the recipe's head+tail); YNAT dev through the knews8 → YNAT map.", "",
        table(["head_init", "validation chose", f"validation ({len(truth['val'])})",
               f"knews8 test ({len(truth['test'])})", f"YNAT dev acc ({len(truth['ynat'])})", "YNAT dev macro-F1"],
              rows)])
    publish(args.section, text)


if __name__ == "__main__":
    main()
