"""`kornews train`: a run directory from a config — the training loop, the hybrid when the recipe asks, then the
calibration on the validation split, and the model card."""
import os
import time

from kornews.commands.calibrate import calibrate_run
from kornews.commands.hybrid import fit_hybrid
from kornews.training import card, loop


def train_run(cfg, out, *, resume=False, progress=True, log=print) -> dict:
    """Fine-tune per `cfg` into run directory `out` (or continue it, `resume`); returns the final metrics."""
    final = loop.train(cfg, out, resume=resume, progress=progress, log=log)
    if int(os.environ.get("RANK", "0")) == 0:  # under DDP the loop has ended the other ranks' work
        if cfg.fusion:
            fit_hybrid(out, cfg.fusion, log=log)
        calibrate_run(out, log=log)  # after the fusion: it calibrates what the user gets
        card.write(out)
    return final


def default_run_dir(cfg) -> str:
    name = cfg.backbone.rstrip("/").split("/")[-1]
    return f"runs/{name}-mode{cfg.mode}-{time.strftime('%Y%m%d-%H%M%S')}"
