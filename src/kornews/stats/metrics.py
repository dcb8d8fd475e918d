"""Classification metrics and their Markdown table: pure functions of true and predicted labels."""
import numpy as np


def compute(y_true, y_pred, labels: list[str]) -> dict:
    """Accuracy, macro/weighted P/R/F1, per-class report and the confusion matrix (rows: true)."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )
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
    if metrics.get("confidence"):
        from kornews.stats.confidence import markdown as confidence_markdown
        lines += confidence_markdown(metrics["confidence"])
    if metrics.get("font_note"):
        lines += ["", f"Note: {metrics['font_note']}"]
    return "\n".join(lines) + "\n"


def wilson(right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of `right` out of `n` (95% by default): it stays inside [0, 1] and
    is honest for the few dozen held-out labels an editor gives, where the normal approximation is not."""
    if n <= 0:
        return 0.0, 1.0
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
