"""WiSE-FT on a finished run: its encoder's weights interpolated with the pretrained backbone's,
theta(a) = (1 - a) * theta_pretrained + a * theta_finetuned (head and pooler kept, a = 1 is the run itself).

    python bench/wise_ft.py --run RUN [--alphas 0.5,0.7,0.8,0.9,1] [--section wise-ft]

Each weight is scored, with the run's engine as `kornews predict` loads it, on the run's validation split (where a
weight would be chosen), the knews8 test split and YNAT dev headlines (another outlet and period). Wortsman et al.
(2022) found the middle weights more robust under distribution shift than either end. Writes docs/benchmarks.md.
"""
import argparse
import json
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, mapped_scores, publish, table, yardstick_scores, yardsticks  # noqa: E402


def pretrained_weights(model, backbone) -> dict:
    """{parameter name of `model`: the pretrained backbone's tensor} for every parameter both have."""
    from safetensors.torch import load_file
    from kornews import backbones
    path = backbones.pull(backbone) if backbone in backbones.BUILTINS else Path(backbone)
    saved = load_file(str(Path(path) / "model.safetensors"))
    prefix = model.base_model_prefix + "."
    out = {}
    for name, param in model.named_parameters():
        bare = name[len(prefix):] if name.startswith(prefix) else name
        tensor = saved.get(bare, saved.get(name))
        if tensor is not None and tensor.shape == param.shape:
            out[name] = tensor.float()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--alphas", default="0.5,0.7,0.8,0.9,1")
    ap.add_argument("--section", default="wise-ft")
    args = ap.parse_args()
    import torch

    from kornews import articles, rundir
    from kornews.loop import validation_split
    from kornews.classifier import Classifier
    started = time.time()
    cfg = rundir.read_config(args.run)
    clf = Classifier.load(args.run, calibrated=False)
    model = clf.model
    tuned = {name: p.detach().float().clone() for name, p in model.named_parameters()}
    base = pretrained_weights(model, cfg.backbone)
    # the run's weights went through its saved dtype (bf16): a tensor training never touched equals the backbone's
    # rounded the same way
    saved = getattr(torch, json.loads((Path(args.run) / "model" / "config.json").read_text()).get("dtype", "float32"))
    moved = [n for n in base if not torch.equal(base[n].to(saved).float(), tuned[n])]
    val = validation_split(cfg, articles.read(cfg.train, mode=cfg.mode, columns=cfg.columns, quiet=True).frame)[1]
    ynat, test = yardsticks()
    rows = []
    for a in [float(x) for x in args.alphas.split(",")]:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in base:
                    p.copy_(((1 - a) * base[name] + a * tuned[name]).to(p.dtype))
        val_acc = mapped_scores(clf.predict_proba(val), clf.labels, list(val["label"]))[0]
        y_acc, y_f1, t_acc = yardstick_scores(clf, ynat, test)
        rows.append([f"{a:g}", f"{val_acc:.4f}", f"{t_acc:.4f}", f"{y_acc:.4f}", f"{100 * y_f1:.2f}"])
        print(rows[-1], flush=True)
    best = max(rows, key=lambda r: (float(r[1]), float(r[0])))  # ties: the weight nearer the run
    text = "\n".join([
        "## WiSE-FT: the run's weights interpolated with the pretrained backbone's", "",
        f"`python bench/wise_ft.py {' '.join(sys.argv[1:])}` — {machine()}, {time.strftime('%Y-%m-%d')}; engine "
        f"{clf.engine.name}, uncalibrated; {(time.time() - started) / 60:.0f} minutes in all.", "",
        f"{len(moved)} of the encoder's {len(base)} shared tensors were changed by fine-tuning (the recipe freezes "
        f"the bottom {cfg.freeze_layers} layers); head and pooler are the run's at every weight.", "",
        table(["weight a", f"validation ({len(val)})", "knews8 test (320)", "YNAT dev acc (9,107)",
               "YNAT dev macro-F1"], rows), "",
        f"Chosen on validation: a = {best[0]}."])
    publish(args.section, text)


if __name__ == "__main__":
    main()
