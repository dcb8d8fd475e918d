"""`kornews demo`, the README's main job: train on knews8 with the default recipe, evaluate, predict new articles."""
import time
from pathlib import Path

from .. import articles, config
from ..classifier import Classifier
from .evaluation import evaluate
from .training import train_run


def demo(out=None, overrides=(), progress=True, log=print) -> dict:
    out = Path(out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
    cfg = config.load(None, overrides, base={"test": "knews8:test"})
    train_run(cfg, out, progress=progress, log=log)
    metrics = evaluate(out, cfg.test or "knews8:test")
    log(f"test accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro']['f1']:.4f}  "
        f"(report: {out / 'report.md'})")
    examples = articles.EXAMPLE_ARTICLES
    for article, label in zip(examples, Classifier.load(out).predict(examples)):
        log(f"{label:<14} {article['title']}")
    return metrics
