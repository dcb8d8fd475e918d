"""`kornews train`: a run directory from a config — the training loop, then the hybrid when the recipe asks."""
import os
import time

from .. import loop
from .hybrid import fit_hybrid


def train_run(cfg, out, *, resume=False, progress=True, log=print) -> dict:
    """Fine-tune per `cfg` into run directory `out` (or continue it, `resume`); returns the final metrics."""
    final = loop.train(cfg, out, resume=resume, progress=progress, log=log)
    if cfg.fusion and int(os.environ.get("RANK", "0")) == 0:  # under DDP the loop has ended the other ranks' work
        fit_hybrid(out, cfg.fusion, log=log)
    return final


def default_run_dir(cfg) -> str:
    name = cfg.backbone.rstrip("/").split("/")[-1]
    return f"runs/{name}-mode{cfg.mode}-{time.strftime('%Y%m%d-%H%M%S')}"
