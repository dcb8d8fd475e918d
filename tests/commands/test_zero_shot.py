"""`kornews zero-shot`: predictions without a run, scored when the data has labels."""
import pandas as pd
import pytest

from kornews.cli import main
from kornews.commands.zero_shot import zero_shot
from kornews.core.errors import KornewsError


def test_labelled_data_is_predicted_and_scored(slices, tiny_backbone, tmp_path):
    out, said = tmp_path / "p.csv", []
    scores = zero_shot(str(slices / "test.csv"), str(out), backbone=str(tiny_backbone), log=said.append)
    frame = pd.read_csv(out)
    assert list(frame.columns[:4]) == ["id", "label", "pred", "confidence"]
    assert len(frame) == 32 and set(frame.pred) <= set(frame.label)
    assert frame.filter(like="p_").sum(axis=1).round(3).eq(1).all()
    assert scores["accuracy"] == pytest.approx((frame.label == frame.pred).mean(), abs=1e-6)
    assert "accuracy" in said[0] and "32 articles" in said[0]


def test_unlabelled_data_has_no_scores(tiny_backbone, tmp_path):
    src = tmp_path / "new.csv"
    pd.DataFrame({"title": ["류현진 시즌 10승", "금리 인상"], "cleanBody": ["야구 경기", "한국은행"]}) \
        .to_csv(src, index=False)
    out = tmp_path / "p.jsonl"
    assert zero_shot(str(src), str(out), backbone=str(tiny_backbone), log=None) is None
    frame = pd.read_json(out, lines=True)
    assert len(frame) == 2 and "label" not in frame and "pred" in frame


def test_labelled_standard_input_is_read_once_and_scored(slices, tiny_backbone, tmp_path, monkeypatch):
    import io
    import sys
    text = (slices / "test.csv").read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))
    scores = zero_shot("-", str(tmp_path / "p.csv"), backbone=str(tiny_backbone), log=lambda s: None)
    assert scores["n"] == 32 and len(pd.read_csv(tmp_path / "p.csv")) == 32


def test_labels_outside_the_set_stop_before_anything_is_written(slices, tiny_backbone, tmp_path):
    out = tmp_path / "p.csv"
    with pytest.raises(KornewsError, match="labels outside the label set ynat: 'politics' .*; known: IT과학"):
        zero_shot(str(slices / "test.csv"), str(out), labels="ynat", backbone=str(tiny_backbone))
    assert not out.exists()


def test_cli_errors_are_one_line(slices, tmp_path, capsys):
    assert main(["zero-shot", str(slices / "test.csv"), "--labels", str(tmp_path / "none.yaml"),
                 "-o", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kornews: error: labels") and "\n" not in err
    assert not (tmp_path / "p.csv").exists()
