"""`kornews zero-shot DATA`: topics from the pretrained encoder and topic descriptions alone, no training; scored
when DATA has labels (in the label set's names)."""
import pandas as pd

from kornews.data import articles, tables
from kornews.data.labels import LabelMap
from kornews.inference.classifier import write_predictions
from kornews.model.descriptions import ZeroShot
from kornews.model.embedding import article_text
from kornews.stats import metrics


def zero_shot(source, output="-", *, labels="knews8", backbone="me5-small", fmt=None, encoding=None,
              log=print) -> dict | None:
    """Write the predictions of `source`'s articles to `output`; return the scores if it has labels (else None)."""
    if str(source) == "-":  # read twice below: standard input only once
        source = tables.read_table("-", encoding=encoding)
    reading = articles.read(source, mode=3, labeled=False, split="test", encoding=encoding)
    if "label" in reading.columns:  # labelled data is scored: read again with its labels checked
        reading = articles.read(source, mode=3, labeled=True, split="test", encoding=encoding, quiet=True)
    df = reading.frame
    clf = ZeroShot(labels, backbone).fit()
    y = None
    if "label" in df:  # checked before the long pass: a label outside the set is an error naming its rows
        y = LabelMap(clf.labels_).encode(df["label"], source=reading.source, rows=df["row"],
                                         unknown=f"labels outside the label set {labels}")
    probs = clf.predict_proba(article_text(df))
    frame = pd.DataFrame({"id": df["id"].to_numpy(), "pred": [clf.labels_[i] for i in probs.argmax(1)],
                          "confidence": probs.max(1).round(6)})
    if y is not None:
        frame.insert(1, "label", df["label"].to_numpy())
    for j, name in enumerate(clf.labels_):
        frame[f"p_{name}"] = probs[:, j].round(6)
    write_predictions(frame, output, fmt)
    if y is None:
        return None
    scores = metrics.compute(frame["label"], frame["pred"], clf.labels_)
    log(f"zero-shot on {reading.source} ({len(df)} articles): accuracy {scores['accuracy']:.4f}, "
        f"macro-F1 {scores['macro']['f1']:.4f}")
    return scores
