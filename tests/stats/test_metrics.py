"""metrics: accuracy, P/R/F1 and the confusion matrix of hand-counted examples, and their Markdown."""
import pytest

from kornews.stats.metrics import compute, markdown


def test_compute_on_a_hand_counted_example():
    m = compute(["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"], ["a", "b", "c"])
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(0.6)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]          # rows: true
    assert m["per_class"]["b"] == {"precision": pytest.approx(2 / 3, abs=1e-6), "recall": 1.0,
                                   "f1": pytest.approx(0.8), "support": 2}
    assert m["per_class"]["c"]["f1"] == 0.0                              # never predicted: no division error
    assert m["macro"]["recall"] == pytest.approx((0.5 + 1 + 0) / 3, abs=1e-6)


def test_markdown_lists_every_class_and_the_matrix():
    m = compute(["정치", "경제"], ["정치", "정치"], ["정치", "경제"])
    text = markdown(m, "Evaluation")
    assert text.startswith("# Evaluation\n") and "Accuracy: **0.5000**" in text
    assert "| 정치 | 0.5000 | 1.0000 | 0.6667 | 1 |" in text and "| 경제 | 1 | 0 |" in text
