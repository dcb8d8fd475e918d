"""`kornews calibrate RUN [FILE]`: fit the run's temperature, or top-label scaling (the recipe's
`calibration_method`, or `--method`), and a default review threshold on labelled articles, by default the validation
split (or held-out labels) that chose its epoch; `train` calls it when a run finishes."""
import numpy as np

from kornews.core import rundir
from kornews.data.labels import LabelMap
from kornews.inference.classifier import Classifier
from kornews.stats import confidence
from kornews.training import config, setup


def calibrate_run(run, source=None, *, encoding=None, target_accuracy: float | None = 0.95, method: str | None = None,
                  log=print) -> confidence.Calibration:
    """Write RUN/calibration.json from the run's raw probabilities on `source` (None: its validation split);
    `method`: temperature or top-label (None: the run's recipe says)."""
    run = rundir.require(run, rundir.CONFIG, f"{rundir.MODEL}/config.json")
    cfg = config.read_run(run)
    method = confidence.check_method(method or cfg.calibration_method)  # before any article is scored
    clf = Classifier.load(run, calibrated=False)
    if source is None:
        split = setup.splits(cfg)  # a taught run's: the editor's held-out labels too
        df, where = split.calibration, split.calibration_note
    else:
        df = clf.read(source, labeled=True, split="test", encoding=encoding).frame
        where = f"{source} ({len(df)} articles)"
    y = np.asarray(LabelMap(clf.labels).encode(df["label"], source=str(source or "validation split"), rows=df["row"]))
    # a title + body run also learns how sure to be of a headline alone, from the same articles' titles
    titled = df["title"].astype(bool).to_numpy() if clf.spec.mode_row.pair else np.zeros(len(df), dtype=bool)
    headlines = (clf.scores(df[titled].assign(body="")).raw, y[titled]) if titled.sum() > 1 else None
    fitted = confidence.fit(clf.scores(df).raw, y, where, target_accuracy, headlines, method)
    fitted.save(run)
    review = (f"; review below {fitted.min_confidence:.4f} keeps {fitted.target_accuracy:.0%} accuracy there"
              if fitted.min_confidence is not None else "")
    if fitted.top_label is not None:
        a, b = fitted.top_label
        log(f"calibration: top-label scaling (a {a:.3f}, b {b:.3f}) on the {where}: calibration error "
            f"{fitted.ece_before:.4f} → {fitted.ece_after:.4f} (the temperature {fitted.temperature:.3f} alone: "
            f"{fitted.temperature_ece_after:.4f}){review}")
    else:
        if method == "top-label":
            log(f"calibration: top-label scaling needs right and wrong articles to learn from; the {where} has "
                "one kind only: the temperature stays")
        log(f"calibration: temperature {fitted.temperature:.3f} on the {where}: calibration error "
            f"{fitted.ece_before:.4f} → {fitted.ece_after:.4f}{review}")
    if fitted.headline_temperature is not None:
        log(f"calibration: headline temperature {fitted.headline_temperature:.3f} on the same articles' titles "
            f"alone: calibration error {fitted.headline_ece_before:.4f} → {fitted.headline_ece_after:.4f}")
    return fitted
