"""The data layer: read news tables and normalize them into articles (how articles become model input: `inputs`).

Pure core: `Columns`, `LabelMap`, `stratified_split`, `detect_columns`, `describe`.
I/O edges: `read_table`, `resolve`, `load_articles`, `info`.

Every user-facing problem is a one-line `KornewsError` naming the file (and row or line). Recoverable
problems (rows dropped for empty text, texts cut to `max_chars`) are logged as one counted warning on the
`kornews.data` logger rather than via `warnings.warn`: they describe the user's data, must show on every load
(warnings are deduplicated), and print as a bare line on stderr even when nothing configured logging.
"""
import codecs
import csv
import io
import json
import logging
import math
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import inputs
from .config import Columns  # noqa: F401  (re-exported: data.Columns is the public name)
from .errors import KornewsError

log = logging.getLogger(__name__)


# --- reading tables ---------------------------------------------------------------------------------

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}


def read_table(path, encoding=None, sep=None) -> pd.DataFrame:
    """Read a CSV, TSV (`.tsv`, or `.txt` with tabs), JSONL or Parquet file, or stdin for "-".

    The format comes from the extension, else it is sniffed. Every cell is a str (missing cells are ""),
    so ids like "0007" and labels like "1" stay as written. TSV is read without quoting, like YNAT.
    Text is decoded strictly as UTF-8 (BOM or not), then CP949 (a superset of EUC-KR), then whatever
    charset-normalizer finds; `encoding` forces one. `sep` forces a delimited file with that separator.
    `df.attrs` records source, format and encoding.
    """
    if str(path) == "-":
        name, fmt, data = "<stdin>", None, sys.stdin.buffer.read()
    else:
        path = Path(path)
        name, fmt = str(path), FORMATS.get(path.suffix.lower())
        _check_file(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise KornewsError(f"{name}: cannot read ({e.strerror})") from None
    return parse_table(data, name, fmt, encoding, sep)


def parse_table(data: bytes, name: str, fmt=None, encoding=None, sep=None) -> pd.DataFrame:
    """The pure core of `read_table`: the bytes of a table called `name` (format `fmt` or sniffed)."""
    if not data.strip():
        raise KornewsError(f"{name}: file is empty")
    encoding_used = None
    if sep is None and (fmt == "parquet" or (fmt is None and data[:4] == b"PAR1")):
        fmt, df = "parquet", _read_parquet(data, name)
    else:
        text, encoding_used = decode(data, name, encoding)
        if not text.strip():
            raise KornewsError(f"{name}: file is empty")
        if sep is not None:
            fmt = "tsv" if sep == "\t" else "csv"
        elif fmt in (None, "txt"):
            fmt = _sniff(text, jsonl=fmt is None)
        df = _parse_jsonl(text, name) if fmt == "jsonl" else _parse_delimited(
            text, name, sep or ("\t" if fmt == "tsv" else ","))
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs.update(source=name, format=fmt, encoding=encoding_used)
    return df


def decode(data: bytes, name: str, encoding=None) -> tuple[str, str]:
    """(text, encoding used) for the bytes of file `name`, or a KornewsError saying why not."""
    if b"\x00" in data:
        raise KornewsError(f"{name}: binary file (contains NUL bytes), not a text table; "
                           "save it as UTF-8 CSV, TSV or JSONL, or as Parquet")
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise KornewsError(f"{name}: unknown encoding {encoding!r}") from None
        try:
            # A BOM is never part of the first column's name.
            return data.decode("utf-8-sig" if codec == "utf-8" else codec), codec
        except UnicodeDecodeError as e:
            raise KornewsError(f"{name}: not valid {encoding} (byte 0x{data[e.start]:02x} at offset {e.start}); "
                               "check --encoding, or leave it out to detect the encoding") from None
    for codec in ("utf-8-sig", "cp949"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if codec == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
            codec = "utf-8"
        return text, codec
    import charset_normalizer
    match = charset_normalizer.from_bytes(data).best()
    if match is None:
        raise KornewsError(f"{name}: binary or undecodable file (not UTF-8, not CP949, no other encoding fits)")
    return str(match), match.encoding


def _check_file(path: Path) -> None:
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in FORMATS)
        hint = f" (it holds: {', '.join(inside[:8])})" if inside else ""
        raise KornewsError(f"{path}: is a directory, not a table file{hint}")
    if not path.exists():
        raise KornewsError(f"{path}: no such file")


def _sniff(text: str, jsonl: bool) -> str:
    if jsonl and text.lstrip()[:1] == "{":
        return "jsonl"
    return "tsv" if "\t" in text.split("\n", 1)[0] else "csv"


def _parse_delimited(text: str, name: str, sep: str) -> pd.DataFrame:
    kind = "TSV" if sep == "\t" else "CSV"
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, na_filter=False,
                           quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL)
    except pd.errors.EmptyDataError:
        raise KornewsError(f"{name}: file is empty") from None
    except pd.errors.ParserError as e:
        raise KornewsError(f"{name}: malformed {kind}: {_parser_problem(str(e), sep)}") from None


def _parser_problem(message: str, sep: str) -> str:
    """pandas' tokenizer message, reworded; its "line" counts records from the header as line 1."""
    if m := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message):
        expected, line, saw = m.groups()
        hint = "a tab inside a text?" if sep == "\t" else "an unquoted separator inside a text?"
        return f"line {line} has {saw} fields, the header has {expected} ({hint})"
    if m := re.search(r"EOF inside string starting at row (\d+)", message):
        return f"unclosed quote starting at line {int(m.group(1)) + 1}"
    return message.strip().splitlines()[-1]


def _parse_jsonl(text: str, name: str) -> pd.DataFrame:
    records = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and friends unescaped.
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise KornewsError(f"{name}: malformed JSONL at line {lineno}: {e.msg} (column {e.colno})") from None
        if not isinstance(record, dict):
            raise KornewsError(f"{name}: malformed JSONL at line {lineno}: "
                               f"expected an object {{...}}, got {type(record).__name__}")
        records.append(record)
    return _as_text(pd.DataFrame.from_records(records))


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        df = pd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError) as e:
        raise KornewsError(f"{name}: not a readable Parquet file ({str(e).strip().splitlines()[0]})") from None
    return _as_text(df)


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as str, missing as "": the same shape of data whatever the file format."""
    return df.map(_cell_text).astype(str) if len(df.columns) else df


# --- columns ----------------------------------------------------------------------------------------

# Names that often hold each field: hints in errors, and the label/id auto-detection.
ALIASES = {
    "title": ("title", "headline", "subject", "제목"),
    "body": ("cleanBody", "body", "text", "content", "contents", "article", "document", "본문"),
    "label": ("category", "label", "topic", "class", "target", "카테고리", "분류"),
    "id": ("id", "guid", "doc_id"),
}


def detect_columns(header, base: Columns | None = None) -> Columns:
    """`base` with the label and id columns re-pointed when the default is absent but an alias is there.

    Only label and id: that covers YNAT (title,label / guid) without guessing which text is which.
    """
    base = base or Columns()
    present = {str(c).lower(): str(c) for c in header}
    changes = {}
    for role in ("label", "id"):
        if getattr(base, role) not in header:
            found = [present[a.lower()] for a in ALIASES[role] if a.lower() in present]
            if found:
                changes[role] = found[0]
    return replace(base, **changes)


def _hint(role: str, header, columns: Columns) -> str:
    taken = {getattr(columns, f.name) for f in fields(Columns)}
    present = {str(c).lower(): str(c) for c in header if c not in taken}
    guess = next((present[a.lower()] for a in ALIASES[role] if a.lower() in present), "...")
    return f"--columns.{role}={guess}"


# --- articles ---------------------------------------------------------------------------------------

def check_mode(mode) -> int:
    inputs.mode(mode)
    return int(mode)


MAX_CHARS = 20000  # longer texts are cut (logged): no article needs more, and one huge cell must not stall a run


def load_articles(source, columns: Columns | None = None, *, mode, labeled=True, encoding=None,
                  max_chars=MAX_CHARS) -> pd.DataFrame:
    """Articles from a dataset name (knews8, ynat:dev), a file path, "-" (stdin) or a DataFrame.

    Returns columns id, title, body, label (when `labeled`), cluster (int, when the input has one) and row
    (1-based data row of the input, header not counted), texts stripped, cut to `max_chars`.
    Only the columns `mode` needs are required. `columns=None` means the dataset's own columns, or for a
    file the knews8 names with label/id auto-detected (`detect_columns`).
    Rows with no text for the mode are dropped with a logged warning; no text at all, or a labeled row
    with an empty label, is an error.
    """
    mode = check_mode(mode)
    df, detected, dataset = _open(source, encoding)
    if dataset is not None and mode not in dataset.modes:
        raise KornewsError(f"{dataset.name} ({dataset.description}) has no input for mode {mode}; "
                           f"use mode {' or '.join(map(str, dataset.modes))}")
    return normalize(df, columns or detected, mode=mode, labeled=labeled, max_chars=max_chars)


def normalize(df: pd.DataFrame, columns: Columns, *, mode, labeled=True, max_chars=MAX_CHARS) -> pd.DataFrame:
    """The pure core of `load_articles`: a raw table (as `read_table` gives it) into normalized articles."""
    mode = check_mode(mode)
    if not (isinstance(max_chars, int) and max_chars > 0):
        raise KornewsError(f"max_chars must be a positive whole number, got {max_chars!r}")
    name = df.attrs.get("source", "<table>")
    roles = inputs.MODES[mode].fields + (("label",) if labeled else ())
    _require(df, columns, roles, mode, name)
    if df.empty:
        raise KornewsError(f"{name}: no data rows (only a header)")

    n = len(df)
    rows = np.arange(1, n + 1)
    out = pd.DataFrame({
        "id": _texts(df[columns.id]) if columns.id in df else rows.astype(str),
        "title": _texts(df[columns.title]) if columns.title in df else "",
        "body": _texts(df[columns.body]) if columns.body in df else "",
    })
    if labeled:
        out["label"] = _texts(df[columns.label])
    if "cluster" in df:
        out["cluster"] = _texts(df["cluster"])
    out["row"] = rows

    used = [r for r in ("title", "body") if r in inputs.MODES[mode].fields]
    what = " and ".join(getattr(columns, r) for r in used)
    empty = np.logical_and.reduce([out[r] == "" for r in used])
    if empty.all():
        raise KornewsError(f"{name}: no text in any of the {n} rows ({what} empty everywhere)")
    if empty.any():
        log.warning(f"{name}: dropped {empty.sum()} of {n} rows with empty {what} "
                    f"(first row {out.row[empty].iloc[0]})")
        out = out[~empty].reset_index(drop=True)

    if labeled:
        missing = out.row[out.label == ""]
        if len(missing):
            where = f"row {missing.iloc[0]} (" if len(missing) == 1 else \
                f"{len(missing)} rows (first row {missing.iloc[0]}; "
            raise KornewsError(f"{name}: empty label in {where}column {columns.label!r})")
    if "cluster" in out:
        out["cluster"] = _clusters(out, name)

    too_long = (out.title.str.len() > max_chars) | (out.body.str.len() > max_chars)
    if cut := int(too_long.sum()):
        log.warning(f"{name}: cut {cut} row{'s' * (cut > 1)} with a text longer than {max_chars} characters "
                    f"(first row {out.row[too_long].iloc[0]})")
        out["title"] = out.title.str.slice(0, max_chars)
        out["body"] = out.body.str.slice(0, max_chars)
    return out


def _texts(series: pd.Series) -> pd.Series:
    return series.map(_cell_text).astype(str).str.strip()


def _clusters(out: pd.DataFrame, name: str) -> pd.Series:
    values = pd.to_numeric(out.cluster, errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        first = bad.to_numpy().nonzero()[0][0]
        raise KornewsError(f"{name}: cluster must be a whole number, got {out.cluster.iloc[first]!r} "
                           f"in row {out.row.iloc[first]}")
    return values.astype(int)


def _require(df: pd.DataFrame, columns: Columns, roles, mode: int, name: str) -> None:
    missing = [r for r in roles if getattr(columns, r) not in df.columns]
    if not missing:
        return
    header = list(df.columns)
    names = ", ".join(repr(getattr(columns, r)) for r in missing)
    needs = [f"by mode {mode}"] * any(r != "label" for r in missing) + ["for labels"] * ("label" in missing)
    found = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    mapping = " ".join(_hint(r, header, columns) for r in missing)
    raise KornewsError(f"{name}: missing column{'s' * (len(missing) > 1)} {names} needed {' and '.join(needs)} "
                       f"(found: {found}); map {'them' if len(missing) > 1 else 'it'} with {mapping}")


# --- labels -----------------------------------------------------------------------------------------

class LabelMap:
    """Label names <-> ids, fixed once from the training labels; ids follow the given order."""

    def __init__(self, labels):
        labels = [str(label) for label in labels]
        if not labels:
            raise KornewsError("a label map needs at least one label")
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise KornewsError(f"label order repeats {', '.join(map(repr, repeated))}")
        self.id2label = dict(enumerate(labels))
        self.label2id = {label: i for i, label in self.id2label.items()}

    @classmethod
    def fit(cls, labels) -> "LabelMap":
        """Sorted distinct labels, so the same data always gives the same ids."""
        return cls(sorted({str(label) for label in labels}))

    @property
    def labels(self) -> list[str]:
        return list(self.id2label.values())

    def __len__(self):
        return len(self.id2label)

    def __eq__(self, other):
        return isinstance(other, LabelMap) and self.labels == other.labels

    def __repr__(self):
        return f"LabelMap({self.labels!r})"

    def encode(self, labels, source=None, rows=None) -> list[int]:
        """Ids of `labels`; labels never seen in training are an error naming them, with their rows.

        `rows` gives each label's row number for the message (default: 1-based position).
        """
        labels = [str(label) for label in labels]
        unseen = {}
        for label, row in zip(labels, rows if rows is not None else range(1, len(labels) + 1)):
            if label not in self.label2id:
                unseen.setdefault(label, []).append(int(row))
        if unseen:
            listed = ", ".join(
                f"{label!r} ({len(r)} row{'s' * (len(r) > 1)}, {'first row' if len(r) > 1 else 'row'} {r[0]})"
                for label, r in unseen.items())
            known = ", ".join(self.labels[:20]) + (", ..." if len(self) > 20 else "")
            prefix = f"{source}: " if source else ""
            raise KornewsError(f"{prefix}labels never seen in training: {listed}; known: {known}")
        return [self.label2id[label] for label in labels]

    def decode(self, ids) -> list[str]:
        out = []
        for i in ids:
            if int(i) not in self.id2label:
                raise KornewsError(f"label id {int(i)} out of range: the label map has {len(self)} labels")
            out.append(self.id2label[int(i)])
        return out

    def to_dict(self) -> dict:
        return {"labels": self.labels}

    @classmethod
    def from_dict(cls, data: dict) -> "LabelMap":
        """From `to_dict()`, or from a Hugging Face config's {"id2label": {"0": ...}} (keys str or int)."""
        if "labels" in data:
            return cls(data["labels"])
        if "id2label" in data:
            id2label = {int(k): v for k, v in data["id2label"].items()}
            if sorted(id2label) != list(range(len(id2label))):
                raise KornewsError(f"id2label ids must be 0..{len(id2label) - 1}, got {sorted(id2label)}")
            return cls([id2label[i] for i in range(len(id2label))])
        raise KornewsError("a saved label map needs 'labels' or 'id2label'")


# --- split ------------------------------------------------------------------------------------------

def stratified_split(df: pd.DataFrame, val_fraction=0.1, seed=42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, val): each label's rows shuffled with `seed`, round(n * val_fraction) of them to val.

    A label keeps at least one row in train (so one-example labels stay in train). Rows keep their order.
    """
    if not 0 <= val_fraction < 1:
        raise KornewsError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if "label" not in df:
        raise KornewsError("stratified_split needs a 'label' column (load the data with labeled=True)")
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(df), dtype=bool)
    for _, positions in sorted(df.groupby("label").indices.items()):
        k = min(len(positions) - 1, int(len(positions) * val_fraction + 0.5))
        is_val[rng.permutation(positions)[:k]] = True
    return df[~is_val].reset_index(drop=True), df[is_val].reset_index(drop=True)


# --- named datasets ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: dict          # split -> file name under data_home()/name/
    columns: Columns
    modes: tuple         # the modes its columns can feed
    source: str          # where to fetch it
    license: str


DATASETS = {
    "knews8": Dataset(
        "knews8", "Korean news, title and body, 8 topics", {"train": "train.csv", "test": "test.csv"},
        Columns(), (1, 2, 3, 4, 5),
        "GitHub Moog303/Korean_News_Classification (newsData/{0..7}/*.txt, title TAB body)",
        "no licence stated; publishers' copyright: test and measure only"),
    "ynat": Dataset(
        "ynat", "KLUE YNAT headlines only, 7 topics", {"train": "train.tsv", "dev": "dev.tsv"},
        Columns(title="title", body="body", label="label", id="guid"), (2,),
        "KLUE benchmark, https://github.com/KLUE-benchmark/KLUE", "CC BY-SA 4.0"),
}


def _home_candidates() -> list[Path]:
    if os.environ.get("KORNEWS_DATA"):
        return [Path(os.environ["KORNEWS_DATA"])]
    package = Path(__file__).resolve().parent
    # ../shared/data beside the working directory, else beside the repo root (some ancestor of the package).
    candidates = [Path.cwd().parent / "shared" / "data"] + [p / "shared" / "data" for p in package.parents]
    return list(dict.fromkeys(candidates))


def data_home() -> Path | None:
    """$KORNEWS_DATA, else the first existing ../shared/data (from the CWD, then from the repo root)."""
    return next((p for p in _home_candidates() if p.is_dir()), None)


def _home_text() -> str:
    home = data_home()
    if home is not None:
        return str(home)
    if os.environ.get("KORNEWS_DATA"):
        return f"none: KORNEWS_DATA={os.environ['KORNEWS_DATA']} is not a directory"
    return "none found (set KORNEWS_DATA; searched ../shared/data from the working directory and the repo)"


def _locate(source, split="train") -> tuple[Path, Dataset | None]:
    """(path, dataset) for "NAME", "NAME:SPLIT" or a file path (a Path object is always a file path)."""
    text = str(source)
    name, _, named_split = text.partition(":")
    if isinstance(source, str) and name in DATASETS:
        dataset, split = DATASETS[name], named_split or split
        if split not in dataset.files:
            raise KornewsError(f"{name} has no split {split!r}; its splits: {', '.join(dataset.files)}")
        home = data_home()
        relative = f"{name}/{dataset.files[split]}"
        if home is None or not (home / relative).is_file():
            raise KornewsError(f"{text}: {relative} not found in the data home ({_home_text()}); "
                               f"fetch it from {dataset.source} and set KORNEWS_DATA")
        return home / relative, dataset
    path = Path(source)
    if isinstance(source, Path) or path.exists() or "/" in text or os.sep in text or path.suffix:
        return path, None
    known = "; ".join(f"{d.name} ({'/'.join(d.files)}; {d.description}; source: {d.source}; {d.license})"
                      for d in DATASETS.values())
    raise KornewsError(f"unknown dataset {text!r} and no such file; known datasets: {known}; "
                       f"data home: {_home_text()}")


def resolve(source, split="train") -> tuple[Path, Columns | None]:
    """(file, columns) for a dataset name, NAME:SPLIT or a file path.

    A file gets the default columns with label/id detected from its header line; "-" (stdin) is not
    read here, so its columns are None: load_articles detects them once it reads the table.
    """
    if str(source) == "-":
        return Path("-"), None
    path, dataset = _locate(source, split)
    if dataset is not None:
        return path, dataset.columns
    _check_file(path)
    return path, detect_columns(_header(path))


def _header(path: Path) -> list[str]:
    """Column names from the first line (or the Parquet schema), read leniently: only for detection."""
    try:
        if FORMATS.get(path.suffix.lower()) == "parquet":
            import pyarrow.parquet
            return pyarrow.parquet.read_schema(path).names
        with open(path, "rb") as f:
            head = f.read(1 << 16).decode("utf-8-sig", errors="replace")
        # the first line by any convention: \n, \r\n, or a classic Mac's bare \r
        line = re.split(r"\r\n|\r|\n", head, maxsplit=1)[0].strip()
        if line.startswith("{"):
            return list(json.loads(line))
        return next(csv.reader([line], delimiter="\t" if "\t" in line else ","), [])
    except (OSError, ValueError, csv.Error):
        return []


def _open(source, encoding=None) -> tuple[pd.DataFrame, Columns, Dataset | None]:
    """(raw table, its columns, its dataset or None) for anything load_articles and info accept."""
    if isinstance(source, pd.DataFrame):
        df = _as_text(source).reset_index(drop=True)
        df.attrs = {**source.attrs, "source": source.attrs.get("source", "<table>")}
        return df, detect_columns(df.columns), None
    path, dataset = (Path("-"), None) if str(source) == "-" else _locate(source)
    df = read_table(path, encoding=encoding)
    return df, (dataset.columns if dataset else detect_columns(df.columns)), dataset


EXAMPLE_ARTICLES = [  # new articles, written for the demo (and export's check when the training data is gone)
    {"title": "손흥민, 시즌 10호골 폭발…토트넘 3연승 견인",
     "body": "손흥민이 리그 경기에서 시즌 10호골을 터뜨리며 팀의 승리를 이끌었다."},
    {"title": "한은, 기준금리 동결…물가 상승세 주시",
     "body": "한국은행 금융통화위원회가 기준금리를 연 3.5%로 동결했다. 환율과 가계부채도 고려했다."},
    {"title": "국회 본회의서 예산안 처리 무산",
     "body": "여야가 예산안 처리를 두고 대립하면서 국회 본회의가 파행됐다."},
]


# --- info -------------------------------------------------------------------------------------------

def info(source, encoding=None) -> str:
    """A printable description of a dataset or file: rows, columns, labels, text lengths, empties, duplicates."""
    df, columns, dataset = _open(source, encoding)
    return describe(df, columns, dataset)


def describe(df: pd.DataFrame, columns: Columns, dataset: Dataset | None = None) -> str:
    attrs = df.attrs
    how = ", ".join(filter(None, (attrs.get("format"), attrs.get("encoding"))))
    lines = [f"{'file':<10} {attrs.get('source', '<table>')}" + (f" ({how})" if how else "")]
    if dataset is not None:
        lines.append(f"{'dataset':<10} {dataset.name}: {dataset.description}; source: {dataset.source}; "
                     f"{dataset.license}")
    lines += [f"{'rows':<10} {len(df):,}", f"{'columns':<10} {', '.join(df.columns)}"]

    if columns.label in df:
        counts = df[columns.label].str.strip().replace("", "(empty)").value_counts()
        counts = counts.sort_index().sort_values(ascending=False, kind="stable")
        heading = f"label ({columns.label})"
        width = max(_width(s) for s in [heading, *counts.index])
        lines += ["", f"{_pad(heading, width)} {'rows':>7} {'share':>7}"]
        lines += [f"{_pad(label, width)} {count:>7,} {count / len(df):>7.1%}" for label, count in counts.items()]
        lines.append(f"{len(counts)} labels")

    texts = [c for c in (columns.title, columns.body) if c in df] or \
        [c for c in df.columns if c not in (columns.label, columns.id, "cluster")]
    if texts:
        width = max(_width(s) for s in ["chars", *texts])
        lines += ["", f"{_pad('chars', width)} " + " ".join(f"{h:>8}" for h in
                                                        ("min", "mean", "median", "p90", "max", "empty", "dups"))]
        for column in texts:
            lines.append(f"{_pad(column, width)} " + _length_row(df[column].str.strip()))
        lines.append("(lengths of non-empty stripped texts; dups: rows repeating an earlier text)")
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
