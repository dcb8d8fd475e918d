"""tables: bytes → a table of strings, in every supported format and encoding, and every way that can fail."""
import io
import json
import re
import sys

import pandas as pd
import pytest
from helpers import KNEWS_CSV, err, write

from kornews.core.errors import KornewsError
from kornews.data.tables import read_table


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949", "euc-kr"])
def test_read_csv_detects_korean_encodings(tmp_path, encoding):
    df = read_table(write(tmp_path / "k.csv", KNEWS_CSV, encoding))
    assert list(df.columns) == ["id", "title", "cleanBody", "category"]
    assert df.id.tolist() == ["0007", "0008"]          # ids stay text, leading zeros kept
    assert df.cleanBody[0] == "국회에서 예산안을, 발표했다."
    assert df.attrs["encoding"] == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}.get(encoding, "cp949")


def test_read_csv_explicit_encoding(tmp_path):
    df = read_table(write(tmp_path / "k.csv", KNEWS_CSV, "euc-kr"), encoding="euc-kr")
    assert df.title[1] == "주가 상승"
    # an explicit utf-8 still drops a BOM instead of gluing it to the first column name
    assert read_table(write(tmp_path / "b.csv", KNEWS_CSV, "utf-8-sig"), encoding="UTF-8").columns[0] == "id"


def test_read_other_encodings_via_charset_normalizer(tmp_path):
    # neither UTF-8 nor CP949 decodes this: the fallback guesses a single-byte Latin encoding
    df = read_table(write(tmp_path / "l.csv", "title,label\nCafé crème à la française,déjà vu\n", "latin-1"))
    assert df.title[0].startswith("Caf") and df.attrs["encoding"] not in ("utf-8", "cp949")


def test_read_tsv_without_quoting(tmp_path):
    # YNAT layout: quotes are plain characters, never field delimiters
    df = read_table(write(tmp_path / "y.tsv", 'guid\ttitle\tlabel\ng1\t"인용"으로 시작, 쉼표도\t사회\n'))
    assert df.title[0] == '"인용"으로 시작, 쉼표도'
    assert df.attrs["format"] == "tsv"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_read_any_line_ending_and_quoted_newlines(tmp_path, newline):
    text = newline.join(["title,cleanBody,category", '가,"첫 줄\n둘째 줄",a', "나,본문,b", ""])
    df = read_table(write(tmp_path / "k.csv", text))
    assert df.category.tolist() == ["a", "b"] and df.cleanBody[0] == "첫 줄\n둘째 줄"


def test_read_txt_is_tsv_with_tabs_else_csv(tmp_path):
    assert read_table(write(tmp_path / "a.txt", "title\tlabel\n가\t나\n")).label[0] == "나"
    assert read_table(write(tmp_path / "b.txt", "title,label\n가,나\n")).attrs["format"] == "csv"


def test_read_jsonl_cells_become_text(tmp_path):
    lines = [{"id": 1, "title": "제목", "cleanBody": "본문\u2028계속", "category": "it"},
             {"id": 2, "title": None, "cleanBody": "둘째", "category": "it", "extra": 3.5}]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    df = read_table(path)
    assert df.id.tolist() == ["1", "2"]
    assert df.title.tolist() == ["제목", ""]
    assert df.cleanBody[0] == "본문\u2028계속"           # U+2028 inside a string is not a line break
    assert df.extra.tolist() == ["", "3.5"]


def test_read_parquet_and_sniff_it_without_extension(tmp_path):
    frame = pd.DataFrame({"id": [1, 2], "title": ["가", None], "cleanBody": ["본문", "둘"], "category": ["a", "b"]})
    frame.to_parquet(tmp_path / "a.parquet")
    df = read_table(tmp_path / "a.parquet")
    assert df.id.tolist() == ["1", "2"] and df.title.tolist() == ["가", ""]
    (tmp_path / "noext").write_bytes((tmp_path / "a.parquet").read_bytes())
    assert read_table(tmp_path / "noext").attrs["format"] == "parquet"


def test_read_unknown_extension_sniffs(tmp_path):
    assert read_table(write(tmp_path / "a.data", '{"title": "가"}\n')).attrs["format"] == "jsonl"
    assert read_table(write(tmp_path / "b.data", "title\tlabel\n가\t나\n")).attrs["format"] == "tsv"
    assert read_table(write(tmp_path / "c.data", "title,label\n가,나\n")).attrs["format"] == "csv"


def test_read_explicit_separator(tmp_path):
    df = read_table(write(tmp_path / "a.csv", "title;label\n가,다;나\n"), sep=";")
    assert df.title[0] == "가,다"


@pytest.mark.parametrize("payload, fmt", [
    (KNEWS_CSV.encode("cp949"), "csv"),
    ('{"title": "가", "label": "x"}\n'.encode(), "jsonl"),
])
def test_read_stdin(monkeypatch, payload, fmt):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
    df = read_table("-")
    assert df.attrs["format"] == fmt and df.attrs["source"] == "<stdin>" and len(df) >= 1


# --- the bad-input table: each file (name, bytes) and the one line that names its problem ---------------------

def _cp949_offset():
    return KNEWS_CSV.encode("cp949").index("정".encode("cp949"))


BAD = [
    ("empty", "e.csv", b"\n \n", {}, "{path}: file is empty"),
    ("bom only", "e.csv", "".encode("utf-8-sig"), {}, "{path}: file is empty"),
    ("wrong explicit encoding", "k.csv", KNEWS_CSV.encode("cp949"), {"encoding": "utf-8"},
     f"{{path}}: not valid utf-8 (byte 0xc1 at offset {_cp949_offset()}); "
     "check --encoding, or leave it out to detect the encoding"),
    ("unknown encoding name", "k.csv", KNEWS_CSV.encode(), {"encoding": "klingon"},
     "{path}: unknown encoding 'klingon'"),
    ("binary", "data.csv", b"\x1f\x8b\x08\x00" + bytes(range(256)), {},
     "{path}: binary file (contains NUL bytes), not a text table; save it as UTF-8 CSV, TSV or JSONL, or as Parquet"),
    ("undecodable", "noise.csv", bytes(range(128, 256)) * 20, {},
     "{path}: binary or undecodable file (not UTF-8, not CP949, no other encoding fits)"),
    ("malformed jsonl", "a.jsonl", '{"title": "가"}\n\n{"title": "나",}\n'.encode(), {},
     "{path}: malformed JSONL at line 3: Expecting property name enclosed in double quotes (column 15)"),
    ("jsonl line not an object", "a.jsonl", '{"title": "가"}\n["나"]\n'.encode(), {},
     "{path}: malformed JSONL at line 2: expected an object {{...}}, got list"),
    ("csv extra field", "k.csv", "title,category\n가,a\n나, 다,b\n".encode(), {},
     "{path}: malformed CSV: line 3 has 3 fields, the header has 2 (an unquoted separator inside a text?)"),
    # pandas would read a longer first row as an index column and shift the whole file silently
    ("ragged first row", "k.csv", "title,cleanBody,category\na,b,economy,extra,more\nc,d,economy\n".encode(), {},
     "{path}: malformed CSV: line 2 has 5 fields, the header has 3 (an unquoted separator inside a text?)"),
    ("short row", "k.csv", "title,cleanBody,category\na,b,economy\nc,d\n".encode(), {},
     "{path}: malformed CSV: line 3 has 2 fields, the header has 3 (an unquoted separator inside a text?)"),
    ("tsv tab inside text", "y.tsv", "title\tlabel\n가\t사회\n나\t다\t세계\n".encode(), {},
     "{path}: malformed TSV: line 3 has 3 fields, the header has 2 (a tab inside a text?)"),
    ("csv unclosed quote", "k.csv", 'title,category\n가,a\n나,b\n"다,c\n'.encode(), {},
     "{path}: malformed CSV at line 4: unexpected end of data (an unclosed quote?)"),
    ("repeated header", "k.csv", "title,title,category\n가,나,a\n".encode(), {},
     "{path}: the header repeats column 'title'"),
]


@pytest.mark.parametrize("name, payload, options, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_tables(tmp_path, name, payload, options, message):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(KornewsError, match=err(message.format(path=path))):
        read_table(path, **options)


def test_bad_corrupt_parquet(tmp_path):
    path = write(tmp_path / "a.parquet", "this is not parquet")
    with pytest.raises(KornewsError, match=f"^{re.escape(str(path))}: not a readable Parquet file \\(.+\\)$"):
        read_table(path)


def test_bad_paths(tmp_path):
    with pytest.raises(KornewsError, match=err(f"{tmp_path / 'nope.csv'}: no such file")):
        read_table(tmp_path / "nope.csv")
    write(tmp_path / "train.csv", KNEWS_CSV)
    with pytest.raises(KornewsError, match=err(f"{tmp_path}: is a directory, not a table file (it holds: train.csv)")):
        read_table(tmp_path)
