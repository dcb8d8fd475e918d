"""calibration: the temperature, the calibration error and the accuracy-coverage table on hand-made examples."""
import json

import numpy as np
import pytest

from kornews.core.errors import KornewsError
from kornews.stats import confidence
from kornews.stats.confidence import (
    Calibration,
    accuracy_coverage,
    ece,
    fit_temperature,
    tempered,
)


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_tempered_keeps_the_ranking_and_one_is_the_identity():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    np.testing.assert_allclose(tempered(p, 1.0), p, atol=1e-12)
    soft, sharp = tempered(p, 2.0), tempered(p, 0.5)
    assert (soft.argmax(1) == p.argmax(1)).all() and (sharp.argmax(1) == p.argmax(1)).all()
    assert (soft.max(1) < p.max(1)).all() and (sharp.max(1) > p.max(1)).all()
    np.testing.assert_allclose(tempered(soft, 0.5), p, atol=1e-9)   # invertible: the report undoes it


def test_fit_temperature_recovers_an_overconfident_model():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (4000, 5))
    y = np.array([rng.choice(5, p=row) for row in _softmax(z)])      # labels drawn from the true probabilities
    overconfident = _softmax(3 * z)
    assert fit_temperature(overconfident, y) == pytest.approx(3.0, rel=0.08)
    assert ece(tempered(overconfident, fit_temperature(overconfident, y)), y) < ece(overconfident, y) / 3


def test_ece_on_a_hand_counted_example():
    # two bins used: 0.95 (2 articles, 1 right) and 0.65 (2 articles, 2 right)
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.65, 0.35], [0.35, 0.65]])
    y = np.array([0, 1, 0, 1])
    assert ece(p, y) == pytest.approx((2 * abs(0.95 - 0.5) + 2 * abs(0.65 - 1.0)) / 4)


def test_accuracy_coverage_on_a_hand_counted_example():
    top = np.array([0.99, 0.9, 0.8, 0.7, 0.6])
    p = np.stack([top, 1 - top], 1)
    y = np.array([0, 0, 1, 0, 1])                                     # right, right, wrong, right, wrong
    table = accuracy_coverage(p, y)
    assert table["at_accuracy"]["0.90"] == {"coverage": 0.4, "threshold": 0.9}
    assert table["at_coverage"] == {"0.50": round(2 / 3, 4), "0.80": 0.75, "0.90": 0.6}
    assert table["curve"][0] == (0.99, 0.2, 1.0) and table["curve"][-1] == (0.6, 1.0, 0.6)


def test_fit_saves_and_loads_and_a_damaged_file_is_one_line(tmp_path):
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (300, 4))
    y = z.argmax(1)
    fitted = confidence.fit(_softmax(4 * z), y, "validation split (300 articles)", target_accuracy=0.95)
    assert fitted.ece_after <= fitted.ece_before and fitted.min_confidence is not None
    fitted.save(tmp_path)
    assert Calibration.load(tmp_path) == fitted and json.loads((tmp_path / "calibration.json").read_text())["n"] == 300
    assert Calibration.load(tmp_path / "none") is None
    (tmp_path / "calibration.json").write_text('{"temperature": "hot"')
    with pytest.raises(KornewsError, match=r"calibration.json: damaged calibration .*kornews calibrate"):
        Calibration.load(tmp_path)
    with pytest.raises(KornewsError, match="calibration needs at least 2 labelled articles"):
        fit_temperature(_softmax(z[:1]), y[:1])


def test_headlines_get_their_own_temperature_and_undo_inverts_apply(tmp_path):
    rng = np.random.default_rng(2)
    z = rng.normal(0, 1.5, (3000, 5))
    y = np.array([rng.choice(5, p=row) for row in _softmax(z)])
    # full articles honest, their headlines alone three times too sure: one temperature cannot serve both
    fitted = confidence.fit(_softmax(z), y, "validation split", headlines=(_softmax(3 * z), y))
    assert fitted.temperature == pytest.approx(1.0, abs=0.08)
    assert fitted.headline_temperature == pytest.approx(3.0, rel=0.08)
    assert fitted.headline_ece_after < fitted.headline_ece_before / 3
    p, headline = _softmax(3 * z[:4]), np.array([True, False, True, False])
    got = fitted.apply(p, headline)
    np.testing.assert_allclose(got[headline], tempered(p[headline], fitted.headline_temperature), atol=1e-12)
    np.testing.assert_allclose(got[~headline], tempered(p[~headline], fitted.temperature), atol=1e-12)
    np.testing.assert_allclose(fitted.undo(got, headline), p, atol=1e-9)
    np.testing.assert_allclose(fitted.apply(p), tempered(p, fitted.temperature), atol=1e-12)  # no mask: one T
    fitted.save(tmp_path)
    assert Calibration.load(tmp_path) == fitted


def test_a_calibration_saved_before_headline_temperatures_still_loads(tmp_path):
    (tmp_path / "calibration.json").write_text(json.dumps(
        {"temperature": 0.9, "fitted_on": "validation split", "n": 128, "ece_before": 0.09, "ece_after": 0.05}))
    old = Calibration.load(tmp_path)
    assert old.headline_temperature is None and old.temperatures([True, False]) == 0.9
    (tmp_path / "calibration.json").write_text(json.dumps(
        {"temperature": 0.9, "fitted_on": "v", "n": 2, "ece_before": 0, "ece_after": 0, "headline_temperature": -1}))
    with pytest.raises(KornewsError, match="temperatures must be positive, got -1"):
        Calibration.load(tmp_path)


def test_ece_floor_is_what_a_calibrated_model_shows_and_shrinks_with_more_articles():
    rng = np.random.default_rng(1)
    top = rng.uniform(0.5, 1.0, 4000)
    probs = np.stack([top, 1 - top], axis=1)
    small, large = confidence.ece_floor(probs[:320]), confidence.ece_floor(probs)
    assert 0.02 < small < 0.06 and large < small / 2.5  # the floor falls as 1/sqrt(n): 12.5x the articles
    # one labelled draw of a calibrated model: its ECE lies near the floor, not near 0
    y = (rng.random(320) >= top[:320]).astype(int)   # right (label 0) with probability top
    assert abs(confidence.ece(probs[:320], y) - small) < 0.03
    assert confidence.ece_floor(np.array([[1.0, 0.0]] * 50)) == 0.0  # a sure model that is always right: no noise


def test_top_label_scaling_keeps_the_topic_and_undo_inverts_it():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.full(8, 0.3), 500)
    for a, b in [(2.2, -2.3), (0.5, 1.0)]:   # sharpening (the floor under the runner-up binds) and softening
        got = confidence.top_label_scaled(p, a, b)
        assert (got.argmax(1) == p.argmax(1)).all()
        np.testing.assert_allclose(got.sum(1), 1, atol=1e-12)
        others = np.where(np.eye(8, dtype=bool)[p.argmax(1)], np.nan, p)
        scaled = np.where(np.isnan(others), np.nan, got)   # the other topics keep their proportions
        np.testing.assert_allclose(scaled / np.nansum(scaled, 1, keepdims=True),
                                   others / np.nansum(others, 1, keepdims=True), atol=1e-9)
        np.testing.assert_allclose(confidence.top_label_unscaled(got, a, b), p, atol=1e-9)
    tied = np.array([[0.45826235, 0.0834753, 0.45826235]], dtype=np.float32)  # a bf16 model's exact tie
    assert confidence.top_label_scaled(tied, 3.0, -3.0).argmax() == 0                # the first stays on top
    tied = np.array([[0.33923778, 0.33923778, 0.02270168, 0.06336757, 0.02104392, 0.01894477, 0.08207929,
                      0.11338713]], dtype=np.float32)
    saved = np.round(confidence.top_label_scaled(tied, 1.4, -0.6), 6)   # as predictions.csv keeps them
    assert confidence.top_label_unscaled(saved, 1.4, -0.6).argmax() == 0   # the report undoes the same topic
    unfloored = confidence.top_label_scaled(np.array([[0.6, 0.3, 0.1]]), 2.0, 0.0)
    assert unfloored[0, 0] == pytest.approx(1 / (1 + (0.4 / 0.6) ** 2))  # sigmoid(2 · logit 0.6)


def test_top_label_scaling_fixes_what_one_temperature_cannot():
    rng = np.random.default_rng(4)
    raw = rng.dirichlet(np.full(5, 0.2), 4000)
    top = raw.max(1)
    # too sure in the middle, not sure enough near the top: P(right) = sigmoid(1.8 · logit(top) + 0.3)
    right = rng.random(4000) < 1 / (1 + np.exp(-(1.8 * np.log(top / (1 - top)) + 0.3)))
    y = np.where(right, raw.argmax(1), (raw.argmax(1) + 1) % 5)
    a, b = confidence.fit_top_label(raw, y)
    assert a == pytest.approx(1.8, rel=0.1) and b == pytest.approx(0.3, abs=0.2)
    fitted = confidence.fit(raw, y, "validation split", method="top-label")
    assert fitted.method == "top-label" and fitted.top_label == (a, b)
    assert fitted.ece_after < fitted.temperature_ece_after / 2 and fitted.ece_after < 0.03
    assert (fitted.apply(raw).argmax(1) == raw.argmax(1)).all()
    np.testing.assert_allclose(fitted.apply(raw), confidence.top_label_scaled(raw, a, b), atol=1e-12)
    with pytest.raises(KornewsError, match="calibration method must be one of temperature, top-label"):
        confidence.fit(raw, y, "v", method="isotonic")
    # nothing wrong to learn from: the temperature stays
    assert confidence.fit(raw, raw.argmax(1), "v", method="top-label").top_label is None


def test_top_label_with_headlines_saves_loads_and_undoes(tmp_path):
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1.5, (2000, 5))
    y = np.array([rng.choice(5, p=row) for row in _softmax(z)])
    fitted = confidence.fit(_softmax(2 * z), y, "v", headlines=(_softmax(3 * z), y), method="top-label")
    p, headline = _softmax(3 * z[:6]), np.array([True, False] * 3)
    got = fitted.apply(p, headline)   # headlines alone keep their temperature; the others are top-label scaled
    np.testing.assert_allclose(got[headline], tempered(p[headline], fitted.headline_temperature), atol=1e-12)
    np.testing.assert_allclose(got[~headline], confidence.top_label_scaled(p[~headline], *fitted.top_label))
    np.testing.assert_allclose(fitted.undo(got, headline), p, atol=1e-9)
    fitted.save(tmp_path)
    assert Calibration.load(tmp_path) == fitted
    saved = json.loads((tmp_path / "calibration.json").read_text())
    (tmp_path / "calibration.json").write_text(json.dumps({**saved, "top_label": [-1.0, 0.0]}))
    with pytest.raises(KornewsError, match=r"top_label must be \[a, b\] with a > 0, got \[-1.0, 0.0\]"):
        Calibration.load(tmp_path)
