"""Metrics, tables and plots from a run's saved predictions and metrics: no model is loaded here."""
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from . import plots, run as run_mod
from .cache import atomic_write_text
from .errors import KornewsError

def labels_of(run: Path) -> list[str]:
    """The label order saved with the model (config.json), read without loading weights."""
    cfg = run_mod.read_json(Path(run) / run_mod.MODEL / "config.json")
    id2label = cfg.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))]


def compute(y_true, y_pred, labels: list[str]) -> dict:
    """Accuracy, macro/weighted P/R/F1, per-class report and the confusion matrix (rows: true)."""
    y_true, y_pred = list(map(str, y_true)), list(map(str, y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out = {"n": len(y_true), "accuracy": accuracy_score(y_true, y_pred)}
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[avg] = {"precision": ap, "recall": ar, "f1": af}
    out["per_class"] = {lab: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
                        for i, lab in enumerate(labels)}
    out["labels"] = labels
    out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return _plain(out)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return round(float(x), 6) if isinstance(x, (float, np.floating)) else x


def markdown(metrics: dict, title: str) -> str:
    lines = [f"# {title}", "", f"Articles: {metrics['n']}  ", f"Accuracy: **{metrics['accuracy']:.4f}**  ",
             "Macro P/R/F1: {precision:.4f} / {recall:.4f} / {f1:.4f}  ".format(**metrics["macro"]),
             "Weighted P/R/F1: {precision:.4f} / {recall:.4f} / {f1:.4f}".format(**metrics["weighted"]), "",
             "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for lab, m in metrics["per_class"].items():
        lines.append(f"| {lab} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |")
    labels = metrics["labels"]
    lines += ["", "Confusion matrix (rows: true, columns: predicted)", "",
              "| true \\ pred | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for lab, row in zip(labels, metrics["confusion"]):
        lines.append(f"| {lab} | " + " | ".join(map(str, row)) + " |")
    if metrics.get("parts"):
        lines += ["", "Hybrid: each part alone and the fusion (the predictions above)", "",
                  "| model | accuracy | macro-F1 |", "|---|---:|---:|"]
        for name, m in metrics["parts"].items():
            lines.append(f"| {name} alone | {m['accuracy']:.4f} | {m['macro']['f1']:.4f} |")
        lines.append(f"| fusion | {metrics['accuracy']:.4f} | {metrics['macro']['f1']:.4f} |")
    if metrics.get("font_note"):
        lines += ["", f"Note: {metrics['font_note']}"]
    return "\n".join(lines) + "\n"


def plot_confusion(metrics: dict, path: Path) -> str | None:
    """Heatmap of the confusion matrix; returns a note when no Korean font is available."""
    plt, font = plots.pyplot()
    cm = np.array(metrics["confusion"])
    labels = metrics["labels"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(labels), 0.8 + 0.6 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, cm[i, j], ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    ax.set_title(f"accuracy {metrics['accuracy']:.3f}")
    fig.tight_layout()
    plots.save(fig, path)
    plt.close(fig)
    if any(plots.has_hangul(lab) for lab in labels) and not font:
        return "no Korean font found (install koreanize-matplotlib or fonts-nanum); Korean labels may show as boxes"
    return None


def plot_curves(history: list[dict], path: Path) -> None:
    plt, _ = plots.pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key in ("train_loss", "val_loss", "test_loss"):
        if key in history[0]:
            a1.plot(epochs, [r[key] for r in history], marker="o", label=key)
    for key in ("train_acc", "val_acc", "test_acc"):
        if key in history[0]:
            a2.plot(epochs, [r[key] for r in history], marker="o", label=key)
    a1.set_title("loss")
    a2.set_title("accuracy")
    for a in (a1, a2):
        a.set_xlabel("epoch")
        plots.integer_epochs(a)
        a.legend()
    fig.tight_layout()
    plots.save(fig, path)
    plt.close(fig)


def build(run) -> dict:
    """Rebuild report.json, report.md and plots/ from predictions.csv (and metrics.jsonl)."""
    run = run_mod.require(run, run_mod.PREDICTIONS, f"{run_mod.MODEL}/config.json")
    preds = pd.read_csv(run / run_mod.PREDICTIONS, dtype=str, keep_default_na=False)
    if "label" not in preds:
        raise KornewsError(f"{run / run_mod.PREDICTIONS}: no 'label' column (predictions of unlabelled data)")
    labels = labels_of(run)
    metrics = compute(preds["label"], preds["pred"], labels)
    parts = [name for name in ("encoder", "tfidf") if f"pred_{name}" in preds]
    if parts:  # a hybrid run: each part alone beside the fusion
        metrics["parts"] = {name: {k: v for k, v in compute(preds["label"], preds[f"pred_{name}"], labels).items()
                                   if k in ("accuracy", "macro")} for name in parts}
    plots = run / run_mod.PLOTS
    note = plot_confusion(metrics, plots / "confusion.png")
    if note:
        metrics["font_note"] = note
    history = run_mod.read_metrics(run)
    if history:
        plot_curves(history, plots / "learning_curves.png")
    run_mod.write_json(run / "report.json", metrics)
    atomic_write_text(run / "report.md", markdown(metrics, f"Evaluation of {run.name}"))
    return metrics
