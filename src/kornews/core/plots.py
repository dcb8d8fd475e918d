"""Matplotlib set up once for every plot kornews draws (reports, clusters, experiments): a Korean font, atomic PNGs.

The font is NanumGothic from the `koreanize-matplotlib` wheel (a pinned dependency), registered by path, so
Korean labels render on a fresh install without a system font package; an installed Nanum/Noto font is used too.
"""
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np

KOREAN_FONTS = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR", "UnDotum")


def bundled_font() -> Path | None:
    """NanumGothic.ttf inside the koreanize-matplotlib package (found without importing it: its import
    rewrites matplotlib's settings)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "NanumGothic.ttf"
    return path if path.is_file() else None


def pyplot():
    """(pyplot, the Korean font family in use or None), on the Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed & set(KOREAN_FONTS) and (path := bundled_font()):
        font_manager.fontManager.addfont(str(path))
        installed.add(font_manager.FontProperties(fname=str(path)).get_name())
    font = next((f for f in KOREAN_FONTS if f in installed), None)
    if font:
        plt.rcParams["font.family"] = font
        plt.rcParams["axes.unicode_minus"] = False  # Nanum lacks the unicode minus glyph
    return plt, font


def has_hangul(text) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in str(text))


def integer_epochs(ax) -> None:
    """Epoch axes show whole epochs only."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def save(fig, path) -> None:
    """Write a figure atomically: a killed report never leaves a truncated PNG; readable like any output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".tmp-{path.stem}-", suffix=".png",
                                     delete=False) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp.name, 0o666 & ~mask)
    os.replace(tmp.name, path)


def plot_confusion(metrics: dict, path: Path) -> str | None:
    """Heatmap of the confusion matrix; returns a note when no Korean font is available."""
    plt, font = pyplot()
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
    save(fig, path)
    plt.close(fig)
    if any(has_hangul(lab) for lab in labels) and not font:
        return "no Korean font found (install koreanize-matplotlib or fonts-nanum); Korean labels may show as boxes"
    return None


def plot_curves(history: list[dict], path: Path) -> None:
    plt, _ = pyplot()
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
        integer_epochs(a)
        a.legend()
    fig.tight_layout()
    save(fig, path)
    plt.close(fig)


def plot_reliability(report: dict, path: Path) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration."""
    plt, _ = pyplot()
    bins = [b for b in report["reliability"] if b["n"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfectly calibrated")
    ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins], width=0.09, alpha=0.75,
           label="accuracy in the bin")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", color="black", lw=1)
    after = report["ece_after"] if report["ece_after"] is not None else report["ece_before"]
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="top probability", ylabel="accuracy",
           title=f"ECE {after:.3f}" + (f" (raw {report['ece_before']:.3f})" if report["ece_after"] is not None else ""))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    save(fig, path)
    plt.close(fig)


def plot_coverage(report: dict, path: Path) -> None:
    """Accuracy of the articles kept against the share kept, as the review threshold rises."""
    plt, _ = pyplot()
    _, coverage, accuracy = zip(*report["curve"]) if report["curve"] else ((), (), ())
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(coverage, accuracy, lw=1.5)
    for target, found in report["at_accuracy"].items():
        if found:
            ax.scatter([found["coverage"]], [float(target)], s=18, zorder=3)
            ax.annotate(f"≥{float(target):.0%}: keep {found['coverage']:.0%} (p≥{found['threshold']:.2f})",
                        (found["coverage"], float(target)), fontsize=7, xytext=(4, -10), textcoords="offset points")
    ax.set(xlim=(0, 1.02), xlabel="share of articles kept (surest first)", ylabel="accuracy of those kept")
    fig.tight_layout()
    save(fig, path)
    plt.close(fig)
