"""`kornews data`: `info`, what the one reader makes of a source, shown as train, evaluate and predict will read it;
`pull NAME`, fetch a named dataset's public files, build and verify its split files in a temporary folder, and rename
that into the data home, so an interruption never leaves a half-written dataset folder."""
import os
import unicodedata
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

from kornews.core import files
from kornews.core.errors import KornewsError
from kornews.data import articles, datasets, download


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


MIRROR_ENV = "KORNEWS_PULL_BASE"  # replaces the scheme and host of every source URL (a mirror, a test server)


def pull_dataset(name: str, to=None, force: bool = False, progress: bool = True, log=print,
                 base: str | None = None) -> str:
    """Pull dataset `name` into data home `to` (default: $KORNEWS_DATA, else $KORNEWS_HOME/data) unless a valid
    copy is there (`force`: pull anyway); one line saying what is there now. `base`: as $KORNEWS_PULL_BASE."""
    if name not in datasets.DATASETS:
        raise KornewsError(f"cannot pull {name!r}: the named datasets are {', '.join(datasets.DATASETS)}")
    dataset, home = datasets.DATASETS[name], Path(to) if to else datasets.pulled_home()
    target = home / name
    present = None if force else _present(dataset, target, log)
    if present:
        return f"{name}: already in {target} ({_rows(present)}); --force pulls it again"
    fetched = {}
    try:
        for part, url in dataset.urls.items():
            fetched[part] = _fetch(name, mirrored=download.mirrored(url, base or os.environ.get(MIRROR_ENV)),
                                   home=home, force=force, progress=progress, log=log)
        counts = _build(dataset, fetched, target)
    finally:
        for path in fetched.values():  # a finished download is built or useless: never kept
            path.unlink(missing_ok=True)
    return f"{name}: wrote {target} ({_rows(counts)})"


def _present(dataset: datasets.Dataset, target: Path, log) -> dict | None:
    """Rows per split of a valid copy in `target`, else None (saying why, when a copy is there)."""
    if not all((target / file).is_file() for file in dataset.files.values()):
        return None
    try:
        return download.verify(dataset, target)
    except KornewsError as e:
        log(f"kornews: {target} is not a valid {dataset.name} ({e}); pulling it again")
        return None


def _fetch(name: str, mirrored: str, home: Path, force: bool, progress: bool, log) -> Path:
    # hidden, beside the dataset folder: a `.part` there is resumed by the next pull (unless --force)
    dest = home / f".{name}-{Path(urllib.parse.urlsplit(mirrored).path).name}"
    part = dest.with_name(dest.name + ".part")
    if force:
        part.unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    log(f"kornews: downloading {mirrored}" + (f" (resuming after {part.stat().st_size:,} bytes)"
                                              if part.exists() else ""))
    return download.fetch(mirrored, dest, progress=progress)


def _build(dataset: datasets.Dataset, fetched: dict, target: Path) -> dict:
    try:
        with files.atomic_dir(target) as tmp:
            download.build(dataset, fetched, tmp)
            return download.verify(dataset, tmp)
    except KornewsError as e:
        raise KornewsError(f"{e}; nothing was written to {target}") from None


def _rows(counts: dict) -> str:
    return ", ".join(f"{split} {n:,} rows" for split, n in counts.items())
