"""What `kornews data pull` does with a named dataset's public files: fetch them (resumable), build the dataset's
split files from them, and verify a built folder against what the dataset promises. Every failure is one
KornewsError line."""
import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from kornews.core.errors import KornewsError
from kornews.data import tables
from kornews.data.datasets import KNEWS8_TEST_FROM, KNEWS8_TOPICS, Dataset

TIMEOUT = 30.0       # seconds a connect or a read may wait before the download is given up
CHUNK = 1 << 16
# newsData/D/DNNNNewsData.txt (D the topic folder, NNN the article), inside the archive's top folder
NEWS_FILE = re.compile(r"(?:^|/)newsData/([0-7])/\1(\d{3})[^/]*\.txt$")
YNAT_COLUMNS = {"train": ("title", "label"), "dev": ("guid", "title", "label")}  # the shared ynat files' headers


def mirrored(url: str, base: str | None) -> str:
    """`url` with its scheme and host replaced by `base` (a mirror or a test server keeps the paths), if given."""
    return base.rstrip("/") + urllib.parse.urlsplit(url).path if base else url


# --- fetch ------------------------------------------------------------------------------------------------------

def fetch(url: str, dest: Path, progress: bool = True, timeout: float = TIMEOUT) -> Path:
    """Download `url` to `dest` through `dest`.part. A `.part` left by an interrupted download is continued where
    the server honours Range (206), started over where it does not (200) or has no such range (416)."""
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset, timeout)
    if offset and (response is None or response.status == 206 and _range_start(response) != offset):
        if response is not None:  # a range we did not ask for: start over rather than splice
            response.close()
        part.unlink()
        offset, response = 0, _open(url, 0, timeout)
    with response:
        _stream(response, part, offset if response.status == 206 else 0, progress, url)
    os.replace(part, dest)
    return dest


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse | None:
    """The response to GET `url` from byte `offset`; None where the server refuses that range (416)."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:
            return None  # no such range: the .part is longer than the file, so it is not a part of it
        raise KornewsError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise KornewsError(f"cannot reach {urllib.parse.urlsplit(url).netloc} for {url}: {reason}") from None


def _range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _stream(response, part: Path, done: int, progress: bool, url: str) -> None:
    """Write the body into `part` after its first `done` bytes (0: truncate it). A short body keeps `part` for
    the next pull to resume."""
    length = response.headers.get("Content-Length", "")
    total = done + int(length) if length.isdigit() else None  # GitHub's archives come chunked, without one
    with open(part, "ab" if done else "wb") as f, tqdm(
            total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=part.name[:-5],
            file=sys.stderr, disable=not progress, leave=False) as bar:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (http.client.HTTPException, OSError) as e:
                raise KornewsError(f"download of {url} interrupted after {done:,} bytes ({e or type(e).__name__}); "
                                   f"the part is kept in {part}: pull again to resume") from None
            if not chunk:
                break
            f.write(chunk)
            bar.update(len(chunk))
            done += len(chunk)
    if total is not None and done != total:
        raise KornewsError(f"truncated download of {url}: {done:,} of {total:,} bytes; "
                           f"the part is kept in {part}: pull again to resume")


# --- build ------------------------------------------------------------------------------------------------------

def build(dataset: Dataset, fetched: dict, out: Path) -> None:
    """Write `dataset`'s split files into `out` from `fetched` (part -> downloaded file, the keys of its urls)."""
    BUILDERS[dataset.name](dataset, fetched, out)


def _knews8(dataset: Dataset, fetched: dict, out: Path) -> None:
    url, archive = dataset.urls["archive"], fetched["archive"]
    try:
        with zipfile.ZipFile(archive) as zf:
            rows = [_article(m, zf.read(info), f"{url}: {info.filename}")
                    for info in zf.infolist() if (m := NEWS_FILE.search(info.filename))]
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise KornewsError(f"{url}: not a readable zip archive ({e})") from None
    if not rows:
        raise KornewsError(f"{url}: no newsData/{{0..7}}/*.txt articles in the archive")
    df = pd.DataFrame(rows, columns=["id", "title", "cleanBody", "category"]).sort_values("id")
    test = df["id"].str[1:].astype(int) >= KNEWS8_TEST_FROM
    df[~test].to_csv(out / dataset.files["train"], index=False)
    df[test].to_csv(out / dataset.files["test"], index=False)


def _article(match: re.Match, data: bytes, name: str) -> dict:
    """One knews8 row: the first line is the title (up to a tab, the README's "title TAB body"), the rest the body;
    whitespace runs become one space, as in the shared CSVs."""
    text, _ = tables.decode(data, name)
    first, _, rest = text.partition("\n")
    title, _, after = first.partition("\t")
    topic, number = match.groups()
    return {"id": topic + number, "title": " ".join(title.split()), "cleanBody": " ".join(f"{after}\n{rest}".split()),
            "category": KNEWS8_TOPICS[int(topic)]}


def _ynat(dataset: Dataset, fetched: dict, out: Path) -> None:
    for split, columns in YNAT_COLUMNS.items():
        records = _json_records(fetched[split], dataset.urls[split], columns)
        lines = ["\t".join(columns)] + ["\t".join(_tsv_cell(r[c]) for c in columns) for r in records]
        (out / dataset.files[split]).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _json_records(path: Path, url: str, columns: tuple) -> list:
    try:
        records = json.loads(path.read_bytes())
    except UnicodeDecodeError as e:
        raise KornewsError(f"{url}: not UTF-8 JSON (byte offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise KornewsError(f"{url}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(records, list):
        raise KornewsError(f"{url}: expected a JSON list of objects, got {type(records).__name__}")
    bad = next((i for i, r in enumerate(records) if not (isinstance(r, dict) and all(c in r for c in columns))), None)
    if bad is not None:
        raise KornewsError(f"{url}: item {bad} is not an object with {', '.join(columns)}")
    return records


def _tsv_cell(value) -> str:
    # the files are read without quoting: a tab or line break inside a title would split it
    return re.sub(r"[\t\r\n]+", " ", str(value)).strip()


BUILDERS = {"knews8": _knews8, "ynat": _ynat}


# --- verify -----------------------------------------------------------------------------------------------------

def verify(dataset: Dataset, folder: Path) -> dict:
    """split -> rows of `dataset` as built in `folder`, or a KornewsError naming what differs from its promise."""
    counts, problems = {}, []
    for split, file in dataset.files.items():
        df = tables.read_table(folder / file)
        counts[split] = len(df)
        problems += [f"{file}: {p}" for p in _problems(dataset, split, df)]
    if problems:
        raise KornewsError(f"{dataset.name} is not as expected: {'; '.join(problems)}")
    return counts


def _problems(dataset: Dataset, split: str, df: pd.DataFrame) -> list:
    problems = _row_problems(len(df), *dataset.rows[split])
    label, id_, pattern = dataset.columns.label, dataset.columns.id, dataset.ids.get(split)
    missing = [c for c in ([label, id_] if pattern else [label]) if c not in df]
    if missing:
        return problems + [f"no column {', '.join(missing)}"]
    problems += _label_problems(df[label].value_counts(), dataset.labels, dataset.per_label.get(split))
    return problems + (_id_problems(df[id_], pattern) if pattern else [])


def _row_problems(rows: int, least: int, most: int | None) -> list:
    if least <= rows and (most is None or rows <= most):
        return []
    expected = f"{least:,}" if most == least else f"{least:,} or more" if most is None else f"{least:,} to {most:,}"
    return [f"{rows:,} rows, expected {expected}"]


def _label_problems(counts: pd.Series, labels: tuple, per_label: int | None) -> list:
    unknown, absent = sorted(set(counts.index) - set(labels)), sorted(set(labels) - set(counts.index))
    problems = ([f"unknown labels {', '.join(map(repr, unknown))}"] if unknown else []) + \
               ([f"no rows of {', '.join(absent)}"] if absent else [])
    off = [f"{k} {n}" for k, n in counts.items() if per_label is not None and n != per_label]
    if off:
        problems.append(f"{per_label} rows of each label expected: {', '.join(off)}")
    return problems


def _id_problems(ids: pd.Series, pattern: str) -> list:
    outside, repeated = ids[~ids.str.fullmatch(pattern)], ids[ids.duplicated()]
    return ([f"{len(outside)} ids outside {pattern} (first {outside.iloc[0]!r})"] if len(outside) else []) + \
           ([f"{len(repeated)} repeated ids (first {repeated.iloc[0]!r})"] if len(repeated) else [])
