"""plots: every plot kornews draws renders Korean on a fresh install."""
import warnings

from kornews.core import plots


def test_plots_render_hangul_on_a_fresh_install(tmp_path):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    bundled = plots.bundled_font()
    assert bundled is not None and FT2Font(str(bundled)).get_char_index(ord("경")) != 0
    plt, font = plots.pyplot()
    assert font is not None
    used = font_manager.findfont(font_manager.FontProperties(family=font), fallback_to_default=False)
    assert all(FT2Font(used).get_char_index(ord(ch)) for ch in "사회경제정치세계생활문화스포츠과학")
    from kornews.core.plots import plot_confusion
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for boxes
        note = plot_confusion({"confusion": [[3, 1], [0, 4]], "labels": ["사회", "IT과학"], "accuracy": 0.875},
                              tmp_path / "cm.png")
    assert note is None and (tmp_path / "cm.png").is_file()
