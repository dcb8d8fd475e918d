"""`kornews hybrid RUN`: add (or replace) RUN/hybrid/, TF-IDF beside the run's encoder and a fusion of the two."""
from pathlib import Path

import numpy as np

from kornews.core import rundir
from kornews.data.labels import LabelMap
from kornews.inference.classifier import Classifier
from kornews.stats.tfidf import DIR, Hybrid, Tfidf, fit_fusion, fuse, texts
from kornews.training import config, setup


def fit_hybrid(run, kind: str = "average", log=print, tfidf: Tfidf | None = None) -> dict:
    """TF-IDF trained on the run's training part (or `tfidf`, one already trained on it, to try another fusion),
    the fusion fitted on its validation split (the same stratified split, by the same seed, that chose the
    encoder's epoch)."""
    run = rundir.require(run, rundir.CONFIG, rundir.FINAL, f"{rundir.MODEL}/config.json")
    cfg = config.read_run(run)
    clf = Classifier.load(run, hybrid=False)
    labels = LabelMap(clf.labels)
    split = setup.splits(cfg)
    tr, va = split.train, split.own_validation
    if tfidf is None:
        tfidf = Tfidf().fit(texts(tr, cfg.mode), labels.encode(tr["label"]), len(labels))
    y_val = np.asarray(labels.encode(va["label"]))
    enc_val = np.log(np.clip(clf.predict_proba(va), 1e-12, None))
    tf_val = tfidf.log_proba(texts(va, cfg.mode))
    params = fit_fusion(kind, enc_val, tf_val, y_val)
    fused = fuse(params, enc_val, tf_val)
    params["fitted_on"] = {"tfidf": f"training part ({len(tr)} articles)",
                           "fusion": f"validation split ({len(va)} articles)"}
    params["validation_accuracy"] = {name: round(float(np.mean(p.argmax(1) == y_val)), 6) for name, p in
                                     (("encoder", enc_val), ("tfidf", tf_val), ("fused", fused))}
    Hybrid(tfidf, params).save(run)
    log(f"hybrid ({kind}) written to {Path(run) / DIR}: validation accuracy " +
        ", ".join(f"{k} {v:.4f}" for k, v in params["validation_accuracy"].items()))
    return params
