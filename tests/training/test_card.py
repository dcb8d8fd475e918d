"""card: every run directory describes itself in a Hugging Face model card, refreshed by evaluation."""
import shutil

import yaml

from kornews.commands.calibrate import calibrate_run
from kornews.commands.evaluate import evaluate
from kornews.stats.confidence import Calibration
from kornews.training import card


def _front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_after_training_then_evaluation(tiny_run, slices, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    text = card.write(run).read_text(encoding="utf-8")
    meta = _front_matter(text)
    assert meta["language"] == ["ko"] and meta["pipeline_tag"] == "text-classification"
    assert sorted(meta["labels"]) == ["culture", "economy", "entertain", "international", "it", "politics",
                                      "society", "sport"]
    assert "model-index" not in meta and "Not calibrated: `kornews calibrate RUN`." in text
    calibrate_run(run, log=lambda s: None)
    metrics = evaluate(run, str(slices / "test.csv"))
    text = (run / "README.md").read_text(encoding="utf-8")
    result = _front_matter(text)["model-index"][0]["results"][0]
    assert result["metrics"][0] == {"type": "accuracy", "value": metrics["accuracy"]}
    assert result["dataset"]["name"] == str(slices / "test.csv")
    assert f"accuracy **{metrics['accuracy']:.4f}**" in text
    fitted = Calibration.load(run)
    assert f"calibration error {fitted.ece_before:.4f} raw, {fitted.ece_after:.4f} calibrated" in text
    assert ("Top-label scaling, fitted on the validation split" in text) == (fitted.method == "top-label")
    assert "## Intended use and limits" in text


def test_card_names_how_the_head_started_the_moving_average_and_layer_wise_decay(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    plain = card.render(run)
    assert "LP-FT" not in plain and "moving average" not in plain and "layer-wise" not in plain
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "head_init": "probe", "ema": 0.99}), encoding="utf-8")
    text = card.render(run)
    assert "first fitted as a logistic regression on the starting encoder's features (LP-FT)" in text
    assert "a moving average of its weights (decay 0.99)" in text
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "head_init": "topics", "layer_lr_decay": 0.8}),
                                     encoding="utf-8")
    text = card.render(run)
    assert "first set from the topics' descriptions" in text and "LP-FT" not in text
    assert "top layer at 0.8 times the learning rate and each one below at 0.8 times the one above" in text


def test_card_says_what_else_the_run_was_trained_on_and_how_often_its_own_articles(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    also = {"data": "ynat:train", "labels": {"스포츠": "sport", "생활문화": "culture|entertain"}}
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "also": also}, allow_unicode=True), encoding="utf-8")
    once = card.render(run)
    assert "also trained on `ynat:train`" in once and "생활문화 → culture or entertain" in once
    assert "times an epoch" not in once
    (run / "config.yaml").write_text(yaml.safe_dump({**cfg, "also": {**also, "repeats": 8}}, allow_unicode=True),
                                     encoding="utf-8")
    assert "Its own training articles were seen 8 times an epoch." in card.render(run)
