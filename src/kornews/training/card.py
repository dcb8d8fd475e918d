"""The run's model card: RUN/README.md in the Hugging Face layout (YAML front matter, then prose), built from what
the run directory holds, so someone who receives the directory knows what it is, how good and how sure it is, and
where it is not to be trusted. Written when training ends and refreshed by every evaluation."""
import json
from pathlib import Path

import yaml

from kornews.core import rundir
from kornews.core.files import atomic_write_text
from kornews.stats.confidence import Calibration
from kornews.training import config, ways

FILE = "README.md"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def front_matter(name: str, cfg, labels: list[str], report: dict | None, source: str | None) -> dict:
    meta = {"language": ["ko"], "pipeline_tag": "text-classification", "library_name": "transformers",
            "tags": ["kornews", "news-topic-classification"], "base_model": cfg.backbone, "labels": labels,
            "metrics": ["accuracy", "f1"]}
    if report:
        meta["model-index"] = [{"name": name, "results": [{
            "task": {"type": "text-classification", "name": "news topic classification"},
            "dataset": {"name": source or "test", "type": source or "test"},
            "metrics": [{"type": "accuracy", "value": report["accuracy"]},
                        {"type": "f1", "name": "macro-F1", "value": report["macro"]["f1"]}]}]}]
    return meta


def render(run) -> str:
    """The card's text for run directory `run`."""
    run = Path(run)
    cfg = config.read_run(run)
    way = ways.of(cfg)
    labels = list((_read(run / rundir.MODEL / "config.json") or {}).get("label2id", {}))
    final, report = _read(run / rundir.FINAL) or {}, _read(run / "report.json")
    source = (report or {}).get("source")
    calibration = Calibration.load(run)
    meta = yaml.safe_dump(front_matter(run.name, cfg, labels, report, source), sort_keys=False, allow_unicode=True)
    lines = ["---", meta.rstrip(), "---", "", f"# {run.name}", "",
             f"A Korean news topic classifier fine-tuned with kornews from `{cfg.backbone}`: it reads "
             f"{_mode_text(cfg.mode)} (at most {cfg.max_len} tokens, long articles by `{cfg.long_strategy}`) and "
             f"answers one of {len(labels)} topics: {', '.join(labels)}.", "",
             "## Training data", "",
             f"`{cfg.train}`, labelled; {cfg.val_fraction:.0%} of it held out (stratified, seed "
             f"{cfg.seed if cfg.split_seed is None else cfg.split_seed}) to choose "
             "the epoch by validation loss and to fit the calibration. The test split never chooses anything."
             + way.data_note(), "",
             "## Training procedure", "",
             f"AdamW, lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs} epochs at most (early stopping after "
             f"{cfg.patience} without improvement), {cfg.schedule} decay after {cfg.warmup_ratio:.0%} warmup, "
             f"gradient clipping {cfg.clip:g}, bottom {cfg.freeze_layers} layers frozen" + _robust(cfg)
             + (f", fusion with TF-IDF: {cfg.fusion}" if cfg.fusion else "") + ". The whole recipe: `config.yaml`.",
             *way.section(run), *_soup(run), "", "## Evaluation", ""]
    if final:
        lines.append(f"- validation (the kept epoch {final.get('best_epoch')}): accuracy {final['val_acc']:.4f}")
    if report:
        lines.append(f"- {source or 'test'} ({report['n']} articles): accuracy **{report['accuracy']:.4f}**, "
                     f"macro-F1 {report['macro']['f1']:.4f} (per class: `report.md`)")
    if not final and not report:
        lines.append("Not evaluated yet: `kornews evaluate RUN DATA`.")
    lines += ["", "## Confidence", ""]
    if calibration:
        if calibration.top_label is not None:
            a, b = calibration.top_label
            lines.append(f"Top-label scaling, fitted on the {calibration.fitted_on}: the top topic's probability "
                         f"becomes sigmoid({a:.3f} · logit(p) {b:+.3f}), the other topics rescaled (the top topic "
                         f"never changes); calibration error {calibration.ece_before:.4f} raw, "
                         f"{calibration.ece_after:.4f} calibrated (10 bins; the temperature "
                         f"{calibration.temperature:.3f} alone: {calibration.temperature_ece_after:.4f}).")
        else:
            lines.append(f"Temperature {calibration.temperature:.3f}, fitted on the {calibration.fitted_on}: "
                         f"calibration error {calibration.ece_before:.4f} raw, {calibration.ece_after:.4f} calibrated "
                         "(10 bins).")
        if calibration.headline_temperature is not None:
            lines.append(f"An article given as a headline alone (no body) gets its own temperature, "
                         f"{calibration.headline_temperature:.3f}, fitted on the same articles' titles: calibration "
                         f"error there {calibration.headline_ece_before:.4f} → {calibration.headline_ece_after:.4f}.")
        if calibration.min_confidence is not None:
            lines.append(f"Review threshold {calibration.min_confidence:.4f}: articles whose top probability is "
                         f"below it are marked `review`; those above reached {calibration.target_accuracy:.0%} "
                         "accuracy there.")
        confidence = (report or {}).get("confidence")
        if confidence and confidence.get("ece_after") is not None:
            lines.append(f"On {source or 'the test data'}: calibration error {confidence['ece_after']:.4f}.")
    else:
        lines.append("Not calibrated: `kornews calibrate RUN`.")
    lines += ["", "## How to use", "", "```bash", f"kornews predict {run.name} articles.csv -o predictions.csv",
              f"kornews serve {run.name}", "```", "", "```python", "from kornews import Classifier",
              f"Classifier.load({run.name!r}).predict([{{'title': '한은, 기준금리 동결', 'body': '...'}}])", "```", "",
              "`model/` alone also loads with `transformers.AutoModelForSequenceClassification` (modes 1-4), without "
              "the calibration and the review threshold.", "",
              "## Intended use and limits", "",
              "Sorting Korean news articles into the topics above, with a person checking the articles marked for "
              "review. The scores above come from the training source; news from other outlets and periods scores "
              "lower (a knews8-trained model: 0.67 on KLUE YNAT headlines, docs/benchmarks.md of kornews), and "
              "its confidence is less reliable there: keep the review threshold, and re-check on a labelled sample "
              "of your own news (`kornews evaluate`, `kornews calibrate RUN FILE`), or adapt the run to your "
              "unlabelled news (`kornews adapt`: 0.67 → 0.73 on those headlines). Text outside the topics still "
              "gets one of them.", ""]
    return "\n".join(lines)


HEAD_STARTS = {"random": "",
               "probe": ", the head's last layer first fitted as a logistic regression on the starting encoder's "
                        "features (LP-FT)",
               "topics": ", the head's last layer first set from the topics' descriptions as the starting encoder "
                         "reads them"}


def _robust(cfg) -> str:
    return (HEAD_STARTS[cfg.head_init]
            + (f", the encoder's top layer at {cfg.layer_lr_decay:g} times the learning rate and each one below at "
               f"{cfg.layer_lr_decay:g} times the one above (layer-wise decay)"
               if cfg.layer_lr_decay < 1 else "")
            + (f", validated and saved as a moving average of its weights (decay {cfg.ema:g})" if cfg.ema else ""))


def _soup(run: Path) -> list[str]:
    """The card's account of `kornews soup`: which runs its weights average."""
    soup = _read(run / rundir.SOUP)
    if not soup:
        return []
    return ["", "## Model soup", "",
            f"The weights are the mean of {len(soup['members'])} runs of this recipe that differ only in seed "
            f"({', '.join(map(str, soup['seeds']))}): {', '.join(f'`{m}`' for m in soup['members'])}. They share the "
            "validation articles, which fitted the soup's temperature."]


def _mode_text(mode: int) -> str:
    return {1: "the body", 2: "the title", 3: "the title and body as a pair"}.get(
        mode, "the title and body as a pair with a cluster id")


def write(run) -> Path:
    path = Path(run) / FILE
    atomic_write_text(path, render(run))
    return path
