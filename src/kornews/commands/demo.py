"""`kornews demo`, the README's main job: train on knews8 with the default recipe, evaluate, predict new articles."""
import time
from pathlib import Path

from kornews.commands.data import pull_dataset
from kornews.commands.evaluate import evaluate
from kornews.commands.train import train_run
from kornews.core.errors import KornewsError
from kornews.data import articles, datasets
from kornews.inference.classifier import Classifier
from kornews.training import config


def demo(out=None, overrides=(), progress=True, log=print) -> dict:
    out = Path(out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
    # the test split is scored once, after training: scoring it every epoch too added 108 s to a 706 s demo
    # (bench/first_run.py) and never chose anything (validation does)
    cfg = config.load(None, overrides)
    _pull_missing(progress, log)
    train_run(cfg, out, progress=progress, log=log)
    metrics = evaluate(out, cfg.test or "knews8:test")
    log(f"test accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro']['f1']:.4f}  "
        f"(report: {out / 'report.md'})")
    examples = articles.EXAMPLE_ARTICLES
    for article, label in zip(examples, Classifier.load(out).predict(examples)):
        log(f"{label:<14} {article['title']}")
    return metrics


def _pull_missing(progress: bool, log) -> None:
    # the demo's one job needs knews8: fetch it on a fresh machine rather than fail
    try:
        datasets.locate("knews8:train")
    except KornewsError:
        log("kornews: knews8 not found in any data home; pulling it")
        log(pull_dataset("knews8", progress=progress, log=log))
