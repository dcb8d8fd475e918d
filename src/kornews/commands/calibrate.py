"""`kornews calibrate RUN [FILE]`: fit the run's temperature, or top-label scaling (the recipe's
`calibration_method`, or `--method`), and a default review threshold on labelled articles, by default the validation
split (or held-out labels) that chose its epoch; `train` calls it when a run finishes. The articles that chose the
epoch (or FILE's), as the calibrated run sees them, become its monitoring reference (RUN/reference.npz,
`stats.monitor`): for a taught run the editor's held-out labels alone, the news it is meant for."""
import numpy as np

from kornews.core import rundir
from kornews.data.labels import LabelMap
from kornews.data.modes import headline_only
from kornews.inference.classifier import Classifier
from kornews.model.embedding import article_text
from kornews.stats import confidence, monitor
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
        reference_df, reference_where = split.validation, split.validation_note
    else:
        df = clf.read(source, labeled=True, split="test", encoding=encoding).frame
        where = reference_where = f"{source} ({len(df)} articles)"
        reference_df = df
    y, raw, headlines = _scored(clf, df, str(source or "validation split"), "raw")
    fitted = confidence.fit(raw, y, where, target_accuracy, headlines, method)
    fitted.save(run)

    def served(raw, headline):  # what the calibrated run gives a user: tempered, then its prior shift
        probs = fitted.apply(raw, headline)
        return clf.prior.apply(probs) if clf.prior else probs
    if reference_df is not df:  # a taught run's reference: the editor's held-out labels alone
        y, raw, headlines = _scored(clf, reference_df, "held-out labels", "raw")
    titles = None if headlines is None else (served(headlines[0], np.ones(len(headlines[0]), bool)), headlines[1])
    _reference(clf, reference_df, y, reference_where, served(raw, headline_only(reference_df, clf.mode)),
               titles).save(run)
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


def _scored(clf, df, source: str, part: str):
    """(label ids, `part` of the scores of `df`'s articles, (the same of their titles alone, their label ids) or None):
    a title + body run also learns how sure to be of a headline alone, from the same articles' titles."""
    y = np.asarray(LabelMap(clf.labels).encode(df["label"], source=source, rows=df["row"]))
    titled = df["title"].astype(bool).to_numpy() if clf.spec.mode_row.pair else np.zeros(len(df), dtype=bool)
    titles = (getattr(clf.scores(df[titled].assign(body="")), part), y[titled]) if titled.sum() > 1 else None
    return y, getattr(clf.scores(df), part), titles


def _reference(clf, df, y, where: str, probs, titles) -> monitor.Reference:
    return monitor.Reference.fit(clf.labels, where, probs, y, monitor.lengths_of(df, clf.spec.mode_row.fields),
                                 article_text(df), titles)


def reference(run, clf: Classifier | None = None) -> monitor.Reference:
    """RUN's monitoring reference: the one `calibrate` wrote, or for a run calibrated before references existed,
    computed (not written) from its calibration articles as the calibrated run sees them."""
    if (ref := monitor.Reference.load(run)) is not None:
        return ref
    run = rundir.require(run, rundir.CONFIG, f"{rundir.MODEL}/config.json")
    clf = clf or Classifier.load(run)
    split = setup.splits(config.read_run(run))
    y, probs, titles = _scored(clf, split.validation, "validation split", "probs")
    return _reference(clf, split.validation, y, split.validation_note, probs, titles)
