"""The one reader: any source of news into normalized articles, by one set of rules.

A source is a dataset name (knews8, ynat:dev), a file path (CSV, TSV, JSONL, Parquet; any encoding `tables`
reads), "-" for stdin, a DataFrame, or a list of dicts or strings. Training, evaluation, prediction, the Python API,
the server and `kornews data info` all call `read`, so the same source gives the same articles everywhere:

- columns: the run's (or dataset's) names first, then the same aliases everywhere, Korean headers included;
- texts stripped, cut to `max_chars` (counted), rows with no text for the mode skipped (counted);
- an empty label, an unreadable cluster id or a missing column is one error line naming the source and row.

Recoverable problems (rows skipped, texts cut) are one counted warning on the `kornews.data.articles` logger: they
describe the user's data, must show on every read (warnings are deduplicated), and print even when nothing
configured logging.
"""
import logging
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from kornews.core.errors import KornewsError
from kornews.data import datasets, tables
from kornews.data.datasets import Columns
from kornews.data.modes import mode as mode_row

log = logging.getLogger(__name__)

MAX_CHARS = 20000  # longer texts are cut (counted): no article needs more, and one huge cell must not stall a run

# Names that often hold each field, tried (case-insensitively) after the run's own column names.
ALIASES = {
    "title": ("title", "headline", "subject", "제목", "헤드라인"),
    "body": ("cleanBody", "body", "text", "content", "contents", "article", "document", "본문", "내용"),
    "label": ("category", "label", "topic", "class", "target", "카테고리", "분류", "주제"),
    "id": ("id", "guid", "doc_id", "번호"),
}


@dataclass
class Reading:
    """What one read gives: the articles (columns id, title, body, label when labelled, cluster when the source
    has one, row: the 1-based data row of the input, truncated: a text was cut) and how they were read."""
    frame: pd.DataFrame
    source: str
    columns: dict          # role -> the source column it came from (absent roles are not listed)
    rows: int              # data rows in the source
    skipped: int           # rows without text for the mode
    cut: int               # rows with a text cut to max_chars
    format: str | None = None
    encoding: str | None = None
    dataset: datasets.Dataset | None = None


def read(source, *, mode: int, columns: Columns | None = None, labeled: bool = True, split: str = "train",
         encoding: str | None = None, max_chars: int = MAX_CHARS, quiet: bool = False,
         skip_unlabeled: bool = False, keep: tuple[str, ...] = ()) -> Reading:
    """Articles of `source` for input `mode`; `columns`: the run's column names (None: the dataset's own, or
    the seed's names). Only the columns the mode (and `labeled`) needs are required. `skip_unlabeled`: the source is
    answers (a sheet half filled in, the labelling page's file): an article's last row counts, and one whose label is
    empty is not labelled (yet), skipped and counted with the rows without text. `keep`: other columns carried into
    the frame as text, as they are ("" where the source has none)."""
    row = mode_row(mode)
    if not (isinstance(max_chars, int) and max_chars > 0):
        raise KornewsError(f"max_chars must be a positive whole number, got {max_chars!r}")
    table, dataset = _table(source, split, encoding, row.fields[-1], columns)
    if dataset is not None:
        if row.number not in dataset.modes:
            *others, last = map(str, dataset.modes)
            listed = f"{', '.join(others)} or {last}" if others else last
            raise KornewsError(f"{dataset.name} ({dataset.description}) has no input for mode {row.number}; "
                               f"use mode {listed}")
        columns = columns or dataset.columns
    name = table.source
    found = detect_columns(table.cells, columns or Columns())
    fields = row.fields
    if row.pair and len(set(fields) & set(found)) == 1:  # a pair mode reads headlines alone (or bodies alone)
        fields = tuple(f for f in fields if f in found)
        if not quiet:
            absent = next(f for f in row.fields if f not in found)
            log.warning(f"{name}: no {absent} column ({getattr(columns or Columns(), absent)!r} or an alias); "
                        f"reading the {fields[0]} alone")
    needed = fields + (("label",) if labeled else ())
    _require(found, needed, columns or Columns(), list(table.cells), row.number, name)
    if table.rows == 0:
        raise KornewsError(f"{name}: no data rows (only a header)")
    out = _normalize(table, found, fields, labeled, max_chars, skip_unlabeled, keep)
    cut = int(out["truncated"].sum())
    skipped = table.rows - len(out)
    if not quiet:
        what = " and ".join(found[r] for r in fields)
        if skipped:
            what += " or label" if skip_unlabeled else ""
            log.warning(f"{name}: skipped {skipped} of {table.rows} rows with empty {what} "
                        f"(first row {_first_skipped(out, table.rows)})")
        if cut:
            log.warning(f"{name}: cut {cut} row{'s' * (cut > 1)} with a text longer than {max_chars} characters "
                        f"(first row {out.row[out.truncated].iloc[0]})")
    return Reading(out, name, found, table.rows, skipped, cut, table.format, table.encoding, dataset)


def detect_columns(header, columns: Columns | None = None) -> dict:
    """role -> source column: `columns`' name where the header has it, else the first alias present."""
    columns = columns or Columns()
    header = [str(c) for c in header]
    lower = {c.lower(): c for c in reversed(header)}  # the first of names that differ only in case
    found = {}
    for role in ("title", "body", "label", "id"):
        wanted = getattr(columns, role)
        if wanted in header:
            found[role] = wanted
            continue
        taken = set(found.values())
        alias = next((lower[a.lower()] for a in ALIASES[role] if a.lower() in lower and lower[a.lower()] not in taken),
                     None)
        if alias is not None:
            found[role] = alias
    return found


@dataclass
class _Cells:
    """A source's raw table as plain lists, column name → cells in row order: the rules below then run in Python
    over the few columns they read (pandas per-column work cost a served one-article request ~1.5 ms)."""
    cells: dict
    rows: int
    source: str
    format: str | None = None
    encoding: str | None = None


def _table(source, split: str, encoding, text_field: str, columns) -> tuple[_Cells, datasets.Dataset | None]:
    """(raw cells, its dataset or None) for anything `read` accepts."""
    if isinstance(source, (list, tuple)):
        return _records(source, text_field, columns), None
    dataset = None
    if isinstance(source, pd.DataFrame):
        df = source
        attrs = {**source.attrs, "source": source.attrs.get("source", "<table>")}
    else:
        if str(source) == "-":
            df = tables.read_table("-", encoding=encoding)
        else:
            path, dataset = datasets.locate(source, split)
            df = tables.read_table(path, encoding=encoding)
        attrs = df.attrs
    cells = {}
    for i, c in enumerate(df.columns):
        cells.setdefault(str(c).strip(), df.iloc[:, i].tolist())  # of two same names, the first
    return _Cells(cells, len(df), attrs.get("source", "<table>"), attrs.get("format"), attrs.get("encoding")), dataset


def _records(items, text_field: str, columns: Columns | None) -> _Cells:
    """A list of articles: dicts (any column names `detect_columns` knows) or strings (the mode's text: the body,
    or the title in mode 2; in a pair mode a lone body encodes exactly as a lone title)."""
    records = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {text_field: item}
        elif not isinstance(item, dict):
            raise KornewsError(f"article {i}: expected a dict with title/body or a string, got {type(item).__name__}")
        records.append(item)
    if not records:
        raise KornewsError("no articles given")
    keys = list(dict.fromkeys(k for r in records for k in r))  # every key, in order of first appearance
    cells = {str(k): [r.get(k) for r in records] for k in keys}
    found = detect_columns(cells, columns)
    if "title" not in found and "body" not in found:
        raise KornewsError(f"article 0: no title or body (keys: {', '.join(map(str, records[0])) or 'none'})")
    for role in ("title", "body"):  # an article given as a dict may leave a field out: it is empty
        if role not in found:
            cells[getattr(columns or Columns(), role)] = [""] * len(records)
    return _Cells(cells, len(records), "<articles>")


def _normalize(table: _Cells, found: dict, used: tuple, labeled: bool, max_chars: int, skip_unlabeled: bool,
               keep: tuple) -> pd.DataFrame:
    n, name = table.rows, table.source

    def texts(column):
        return [tables.cell_text(v).strip() for v in table.cells[column]]
    rows = list(range(1, n + 1))
    cols = {"id": texts(found["id"]) if "id" in found else [str(r) for r in rows]}
    for role in ("title", "body"):
        cols[role] = texts(found[role]) if role in found else [""] * n
    if labeled:
        cols["label"] = texts(found["label"])
    if "cluster" in table.cells:
        cols["cluster"] = texts("cluster")
    for c in keep:
        cols.setdefault(c, texts(c) if c in table.cells else [""] * n)
    cols["row"] = rows

    chosen = [i for i in range(n) if any(cols[r][i] for r in used)]
    if not chosen:
        what = " and ".join(found[r] for r in used)
        raise KornewsError(f"{name}: no text in any of the {n} rows ({what} empty everywhere)")
    if labeled and skip_unlabeled:
        if "id" in found:  # a changed answer is a later row of the same article
            chosen = sorted({cols["id"][i]: i for i in chosen}.values())
        chosen = [i for i in chosen if cols["label"][i]]
        if not chosen:
            raise KornewsError(f"{name}: no labelled row yet (column {found['label']!r} empty everywhere)")
    if labeled:
        missing = [cols["row"][i] for i in chosen if not cols["label"][i]]
        if missing:
            where = f"row {missing[0]} (" if len(missing) == 1 else f"{len(missing)} rows (first row {missing[0]}; "
            raise KornewsError(f"{name}: empty label in {where}column {found['label']!r})")
    cols = {k: [v[i] for i in chosen] for k, v in cols.items()}
    if "cluster" in cols:
        cols["cluster"] = np.array(_clusters(cols["cluster"], cols["row"], name), dtype=np.int64)
    cols["row"] = np.array(cols["row"], dtype=np.int64)
    cols["truncated"] = np.array([len(t) > max_chars or len(b) > max_chars
                                  for t, b in zip(cols["title"], cols["body"])], dtype=bool)
    cols["title"] = [t[:max_chars] for t in cols["title"]]
    cols["body"] = [b[:max_chars] for b in cols["body"]]
    return pd.DataFrame(cols)


def _first_skipped(out: pd.DataFrame, n: int) -> int:
    kept = np.zeros(n + 1, dtype=bool)
    kept[out.row.to_numpy()] = True
    return int(np.flatnonzero(~kept[1:])[0]) + 1


def _clusters(values: list, rows: list, name: str) -> list:
    out = []
    for value, row in zip(values, rows):
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or not number.is_integer():
            raise KornewsError(f"{name}: cluster must be a whole number, got {value!r} in row {row}")
        out.append(int(number))
    return out


def _require(found: dict, roles, columns: Columns, header: list, mode: int, name: str) -> None:
    missing = [r for r in roles if r not in found]
    if not missing:
        return
    names = ", ".join(repr(getattr(columns, r)) for r in missing)
    needs = [f"by mode {mode}"] * any(r != "label" for r in missing) + ["for labels"] * ("label" in missing)
    shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    free = iter([c for c in header if c not in set(found.values())])
    mapping = " ".join(f"--columns.{r}={next(free, '...')}" for r in missing)
    raise KornewsError(f"{name}: missing column{'s' * (len(missing) > 1)} {names} needed {' and '.join(needs)} "
                       f"(found: {shown}); map {'them' if len(missing) > 1 else 'it'} with {mapping}")


def columns_of(found: dict) -> Columns:
    """The `Columns` a reading resolved (roles it did not find keep the seed's names)."""
    return replace(Columns(), **{f.name: found[f.name] for f in fields(Columns) if f.name in found})


EXAMPLE_ARTICLES = [  # new articles, written for the demo (and export's check when the training data is gone)
    {"title": "손흥민, 시즌 10호골 폭발…토트넘 3연승 견인",
     "body": "손흥민이 리그 경기에서 시즌 10호골을 터뜨리며 팀의 승리를 이끌었다."},
    {"title": "한은, 기준금리 동결…물가 상승세 주시",
     "body": "한국은행 금융통화위원회가 기준금리를 연 3.5%로 동결했다. 환율과 가계부채도 고려했다."},
    {"title": "국회 본회의서 예산안 처리 무산",
     "body": "여야가 예산안 처리를 두고 대립하면서 국회 본회의가 파행됐다."},
]
