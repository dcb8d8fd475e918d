"""`kornews data info`: what the one reader makes of a source, shown as train, evaluate and predict will read it."""
import unicodedata

import numpy as np
import pandas as pd

from .. import articles
from ..errors import KornewsError


def data_info(source, *, mode: int | None = None, columns=None, encoding=None) -> str:
    """A printable description: where the articles come from, which column feeds each field, how many rows were
    read, skipped and cut, the labels and the text lengths. `mode` None: the richest mode the source can feed."""
    if mode is None:
        mode = _richest_mode(source, columns, encoding)
    problem = None
    try:
        reading = articles.read(source, mode=mode, columns=columns, labeled=True, encoding=encoding, quiet=True)
    except KornewsError as e:  # no label column, or an empty label: still readable for prediction
        problem = str(e)
        reading = articles.read(source, mode=mode, columns=columns, labeled=False, encoding=encoding, quiet=True)
        if "label" in reading.columns:
            problem = f"as training data: {problem}"
        else:
            problem = None
    return describe(reading, mode, problem)


def _richest_mode(source, columns, encoding) -> int:
    for mode in (3, 2, 1):
        try:
            found = articles.read(source, mode=mode, columns=columns, labeled=False, encoding=encoding,
                                  quiet=True).columns
        except KornewsError as e:
            last = e
            continue
        if mode != 3 or {"title", "body"} <= set(found):  # a pair mode reads a lone column too: not the richest
            return mode
    raise last


def describe(reading: articles.Reading, mode: int, problem: str | None = None) -> str:
    df = reading.frame
    how = ", ".join(filter(None, (reading.format, reading.encoding)))
    lines = [f"{'source':<10} {reading.source}" + (f" ({how})" if how else "")]
    if reading.dataset is not None:
        d = reading.dataset
        lines.append(f"{'dataset':<10} {d.name}: {d.description}; source: {d.source}; {d.license}")
    lines.append(f"{'columns':<10} " + ", ".join(f"{role} ← {col}" for role, col in reading.columns.items()))
    lines.append(f"{'mode':<10} {mode}")
    lines.append(f"{'rows':<10} {reading.rows:,} read, {len(df):,} articles "
                 f"({reading.skipped:,} skipped for empty text, {reading.cut:,} cut to {articles.MAX_CHARS:,} chars)")
    if problem:
        lines.append(f"{'problem':<10} {problem}")
    if "label" in df:
        counts = df["label"].value_counts().sort_index().sort_values(ascending=False, kind="stable")
        heading = f"label ({reading.columns['label']})"
        width = max(_width(s) for s in [heading, *counts.index])
        lines += ["", f"{_pad(heading, width)} {'rows':>7} {'share':>7}"]
        lines += [f"{_pad(label, width)} {count:>7,} {count / len(df):>7.1%}" for label, count in counts.items()]
        lines.append(f"{len(counts)} labels")
    texts = [r for r in ("title", "body") if r in reading.columns]
    if texts:
        width = max(_width(s) for s in ["chars", *texts])
        lines += ["", f"{_pad('chars', width)} " + " ".join(f"{h:>8}" for h in
                                                        ("min", "mean", "median", "p90", "max", "empty", "dups"))]
        for role in texts:
            lines.append(f"{_pad(role, width)} " + _length_row(df[role]))
        lines.append("(lengths of the articles' stripped texts; dups: articles repeating an earlier text)")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Terminal columns: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _length_row(texts: pd.Series) -> str:
    filled = texts[texts != ""]
    lengths = filled.str.len().to_numpy()
    stats = ["-"] * 5 if not len(lengths) else [
        f"{lengths.min():,}", f"{lengths.mean():,.1f}", f"{np.median(lengths):,.1f}",
        f"{np.percentile(lengths, 90):,.1f}", f"{lengths.max():,}"]
    counts = [f"{len(texts) - len(filled):,}", f"{filled.duplicated().sum():,}"]
    return " ".join(f"{s:>8}" for s in stats + counts)
