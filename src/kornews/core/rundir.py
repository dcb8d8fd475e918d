"""The run directory: the only hand-off between verbs. Everything is written atomically.

    RUN/config.yaml        resolved TrainConfig
    RUN/model/             save_pretrained weights + tokenizer; config.json has id2label and a `kornews` block
    RUN/clusterer/         fitted clusterer (modes 4 and 5)
    RUN/metrics.jsonl|csv  one row per epoch
    RUN/final.json         final metrics of the kept (best) model
    RUN/env.json           versions, seed, threads, time, command
    RUN/checkpoint/        last finished epoch's training state, for --resume; removed when training ends
    RUN/predictions.csv    written by `evaluate`; `report` rebuilds report.md/json and plots/ from it
    RUN/adaptation.json    the prior correction of an adapted run (`kornews adapt`)
    RUN/adapt/             what `kornews adapt` worked from: the plan, the source run's probabilities, pseudo-labels
    RUN/soup.json          the runs a soup averages (`kornews soup`)
"""
import csv
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_text
from kornews.core.version import __version__

CONFIG, MODEL, CLUSTERER, METRICS, FINAL, ENV, CHECKPOINT = (
    "config.yaml", "model", "clusterer", "metrics.jsonl", "final.json", "env.json", "checkpoint")
PREDICTIONS, PLOTS, ADAPT, SOUP = "predictions.csv", "plots", "adapt", "soup.json"
LEARN = "learn"
STAGED = (ADAPT, LEARN)  # folders a verb may write into a run directory before its training starts


def require(run, *names) -> Path:
    """`run` as a Path, after checking it is a run directory holding `names`."""
    run = Path(run)
    if not run.is_dir():
        raise KornewsError(f"{run}: run directory not found")
    missing = [n for n in names if not (run / n).exists()]
    if missing:
        raise KornewsError(f"{run}: not a complete run directory (missing: {', '.join(missing)})")
    return run


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KornewsError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise KornewsError(f"{path}: corrupt JSON ({e})") from None


def write_metrics(run: Path, history: list[dict]) -> None:
    """The whole history each time: a rewrite is atomic, an append is not."""
    atomic_write_text(run / METRICS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in history))
    keys = list(dict.fromkeys(k for r in history for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run / "metrics.csv", buf.getvalue())


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def device_name(device: str) -> str:
    """cpu, or the GPU's name: which numbers came from a GPU is part of a run's record."""
    import torch
    return device if device == "cpu" else f"{device} ({torch.cuda.get_device_name(torch.device(device))})"


def environment(cfg, device: str = "cpu") -> dict:
    import torch
    import transformers
    return {
        "kornews": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "platform": platform.platform(),
        "threads": torch.get_num_threads(), "device": device_name(device), "seed": cfg.seed,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
    }


def require_new(out) -> Path:
    """A run directory a verb is about to make: absent or empty, else one line (nothing of it is touched)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise KornewsError(f"{out}: run directory exists and is not empty (choose another --out or --resume)")
    return out
