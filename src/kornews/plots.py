"""Matplotlib set up once for every plot kornews draws (reports, clusters, experiments): a Korean font, atomic PNGs.

The font is NanumGothic from the `koreanize-matplotlib` wheel (a pinned dependency), registered by path, so
Korean labels render on a fresh install without a system font package; an installed Nanum/Noto font is used too.
"""
import importlib.util
import os
import tempfile
from pathlib import Path

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
