"""Bytes → a table of strings: CSV, TSV, JSONL or Parquet, in UTF-8 (BOM or not), CP949/EUC-KR or whatever
charset-normalizer finds. How a table becomes articles is `articles`' business; this module only reads tables.
"""
import codecs
import csv
import io
import json
import math
import sys
from pathlib import Path

import pandas as pd

from kornews.core.errors import KornewsError

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
        check_file(path)
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


def check_file(path: Path) -> None:
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
    """Every record must have the header's number of fields: pandas would read a longer first row as an index and
    shift the whole file a column, silently."""
    kind, tsv = ("TSV", True) if sep == "\t" else ("CSV", False)
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))  # a huge article is cut later, not refused here
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=not tsv,
                        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise KornewsError(f"{name}: file is empty")
        records = []
        for record in reader:
            if not record or record == [""]:
                continue  # a blank line
            if len(record) != len(header):
                hint = "a tab inside a text?" if tsv else "an unquoted separator inside a text?"
                raise KornewsError(f"{name}: malformed {kind}: line {reader.line_num} has {len(record)} fields, "
                                   f"the header has {len(header)} ({hint})")
            records.append(record)
    except csv.Error as e:
        raise KornewsError(f"{name}: malformed {kind} at line {reader.line_num}: {e} (an unclosed quote?)") from None
    seen = [h for i, h in enumerate(header) if h in header[:i]]
    if seen:
        raise KornewsError(f"{name}: the header repeats column {seen[0]!r}")
    return pd.DataFrame(records, columns=header, dtype=str) if records else pd.DataFrame(columns=header, dtype=str)


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
    return as_text(pd.DataFrame.from_records(records))


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        df = pd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError) as e:
        raise KornewsError(f"{name}: not a readable Parquet file ({str(e).strip().splitlines()[0]})") from None
    return as_text(df)


def cell_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def as_text(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as str, missing as "": the same shape of data whatever the file format."""
    return df.map(cell_text).astype(str) if len(df.columns) else df
