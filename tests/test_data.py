"""The data layer: readers, normalization, modes, labels, split, named datasets, and a corpus of bad inputs."""
import io
import json
import logging
import re
import sys
import time

import pandas as pd
import pytest

from kornews.data import (DATASETS, Columns, LabelMap, data_home, detect_columns, info, load_articles,
                          read_table, resolve, stratified_split)
from kornews.inputs import mode_inputs
from kornews.errors import KornewsError

KNEWS_CSV = ("id,title,cleanBody,category\n"
             "0007,정부 예산안 발표,\"국회에서 예산안을, 발표했다.\",politics\n"
             "0008,주가 상승, 코스피가 올랐다 ,economy\n")


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def err(message):
    """pytest.raises match for an exact whole message."""
    return "^" + re.escape(message) + "$"


@pytest.fixture
def small_home(tmp_path, shared, monkeypatch):
    """A data home holding small slices of the real knews8 and ynat files."""
    home = tmp_path / "home"
    (home / "knews8").mkdir(parents=True)
    (home / "ynat").mkdir()
    train = read_table(shared / "knews8" / "train.csv")
    train.groupby("category").head(5).to_csv(home / "knews8" / "train.csv", index=False)
    dev_lines = (shared / "ynat" / "dev.tsv").read_text(encoding="utf-8").split("\n")[:31]
    (home / "ynat" / "dev.tsv").write_text("\n".join(dev_lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("KORNEWS_DATA", str(home))
    return home


# --- readers ------------------------------------------------------------------------------------------

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


def test_load_articles_from_stdin_detects_columns(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("title\tlabel\n가\t사회\n".encode())))
    assert load_articles("-", mode=2).label.tolist() == ["사회"]


# --- load_articles ------------------------------------------------------------------------------------

def test_load_articles_normalizes(tmp_path):
    df = load_articles(write(tmp_path / "k.csv", KNEWS_CSV), mode=3)
    assert list(df.columns) == ["id", "title", "body", "label", "row"]
    assert df.body.tolist() == ["국회에서 예산안을, 발표했다.", "코스피가 올랐다"]   # stripped
    assert df.row.tolist() == [1, 2]


def test_load_articles_only_needs_the_mode_columns(tmp_path):
    path = write(tmp_path / "t.csv", "title\n가\n나\n")
    df = load_articles(path, mode=2, labeled=False)
    assert df.title.tolist() == ["가", "나"] and df.body.tolist() == ["", ""]
    assert df.id.tolist() == ["1", "2"]               # no id column: row numbers
    assert "label" not in df


def test_load_articles_cluster_column_is_int(tmp_path):
    path = write(tmp_path / "c.csv", "title,cleanBody,category,cluster\n가,본,a,3\n나,문,b,0\n")
    assert load_articles(path, mode=4).cluster.tolist() == [3, 0]


def test_load_articles_drops_empty_texts_with_counted_warning(tmp_path, caplog):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가, ,a\n나,본문,a\n다,,b\n")
    with caplog.at_level(logging.WARNING, logger="kornews.data"):
        df = load_articles(path, mode=1)
    assert df.row.tolist() == [2]
    assert [r.name for r in caplog.records] == ["kornews.data"]
    assert caplog.messages == [f"{path}: dropped 2 of 3 rows with empty cleanBody (first row 1)"]


def test_mode3_keeps_rows_with_title_or_body(tmp_path, caplog):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n,본문,a\n제목,,a\n,,b\n")
    with caplog.at_level(logging.WARNING, logger="kornews.data"):
        df = load_articles(path, mode=3)
    assert df.row.tolist() == [1, 2]
    assert caplog.messages == [f"{path}: dropped 1 of 3 rows with empty title and cleanBody (first row 3)"]


def test_load_articles_from_dataframe_with_nan():
    frame = pd.DataFrame({"title": ["가", float("nan")], "cleanBody": ["본문", None], "category": ["a", "b"]},
                         index=[10, 5])
    df = load_articles(frame, mode=3)
    assert df.title.tolist() == ["가"] and df.row.tolist() == [1]


def test_explicit_columns(tmp_path):
    path = write(tmp_path / "n.csv", "headline,text,topic\n가,본문,it\n")
    df = load_articles(path, Columns(title="headline", body="text", label="topic"), mode=3)
    assert (df.title[0], df.body[0], df.label[0]) == ("가", "본문", "it")


# --- modes --------------------------------------------------------------------------------------------

ARTICLES = pd.DataFrame({"title": ["제목1", "", "제목3"], "body": ["본문1", "본문2", ""], "cluster": [0, 2, 1]})


# --- labels -------------------------------------------------------------------------------------------

def test_label_map_fit_encode_decode_roundtrip():
    labels = LabelMap.fit(["sport", "it", "sport", "economy"])
    assert labels.labels == ["economy", "it", "sport"]
    assert labels.label2id == {"economy": 0, "it": 1, "sport": 2} and labels.id2label[2] == "sport"
    assert labels.encode(["it", "sport"]) == [1, 2]
    assert labels.decode([2, 0]) == ["sport", "economy"]
    assert LabelMap.from_dict(json.loads(json.dumps(labels.to_dict()))) == labels
    # a Hugging Face config's id2label (keys turned to str by JSON) gives the same order
    assert LabelMap.from_dict({"id2label": {"1": "b", "0": "a"}}).labels == ["a", "b"]


def test_label_map_explicit_order():
    assert LabelMap(["정치", "경제"]).encode(["경제"]) == [1]


# --- split --------------------------------------------------------------------------------------------

def test_stratified_split_is_seeded_stratified_and_keeps_singletons():
    df = pd.DataFrame({"label": ["a"] * 20 + ["b"] * 10 + ["c"], "row": range(1, 32)})
    train, val = stratified_split(df, val_fraction=0.2, seed=1)
    assert val.label.value_counts().to_dict() == {"a": 4, "b": 2}
    assert "c" in set(train.label) and len(train) + len(val) == 31
    assert set(train.row).isdisjoint(val.row)
    assert train.row.is_monotonic_increasing                       # input order kept
    again = stratified_split(df, val_fraction=0.2, seed=1)
    assert again[1].row.tolist() == val.row.tolist()
    assert stratified_split(df, val_fraction=0.2, seed=2)[1].row.tolist() != val.row.tolist()


# --- columns, data home, named datasets ---------------------------------------------------------------

def test_detect_columns_ynat_layout():
    assert detect_columns(["guid", "title", "label"]) == Columns(label="label", id="guid")
    assert detect_columns(["id", "title", "cleanBody", "category"]) == Columns()



def test_data_home_prefers_env(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path))
    assert data_home() == tmp_path


def test_data_home_finds_shared_beside_the_repo(shared, monkeypatch, tmp_path):
    monkeypatch.delenv("KORNEWS_DATA", raising=False)
    monkeypatch.chdir(tmp_path)                      # no ../shared/data from here: found from the package
    assert data_home() == shared


def test_resolve(small_home, tmp_path):
    assert resolve("knews8") == (small_home / "knews8" / "train.csv", DATASETS["knews8"].columns)
    assert resolve("ynat:dev")[0] == small_home / "ynat" / "dev.tsv"
    assert resolve("ynat", split="dev")[0] == small_home / "ynat" / "dev.tsv"
    path = write(tmp_path / "mine.tsv", "title\tlabel\n가\t나\n")
    assert resolve(str(path)) == (path, Columns(label="label"))


def test_load_named_slices(small_home):
    knews = load_articles("knews8", mode=3)
    assert len(knews) == 40 and knews.label.value_counts().eq(5).all()
    ynat = load_articles("ynat:dev", mode=2)
    assert len(ynat) == 30 and ynat.id[0] == "ynat-v1_dev_00000"


def test_info_numbers(tmp_path):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가나,본문 하나,a\n가나,,a\n다,본문둘,b\n")
    text = info(str(path))
    assert f"file       {path} (csv, utf-8)" in text
    assert "rows       3" in text
    assert re.search(r"^a\s+2\s+66\.7%$", text, re.M) and re.search(r"^b\s+1\s+33\.3%$", text, re.M)
    #                       min mean median p90 max empty dups
    assert re.search(r"^title\s+1\s+1\.7\s+2\.0\s+2\.0\s+2\s+0\s+1$", text, re.M)
    assert re.search(r"^cleanBody\s+3\s+4\.0\s+4\.0\s+4\.8\s+5\s+1\s+0$", text, re.M)


# --- the bad-input corpus: every problem is one clear line ---------------------------------------------

def test_bad_renamed_body_column(tmp_path):
    path = write(tmp_path / "knews.csv", "title,body,category\n가,나,a\n")
    with pytest.raises(KornewsError, match=err(
            f"{path}: missing column 'cleanBody' needed by mode 1 (found: title, body, category); "
            "map it with --columns.body=body")):
        load_articles(path, Columns(), mode=1)


def test_bad_several_missing_columns(tmp_path):
    path = write(tmp_path / "n.csv", "headline,text\n가,나\n")
    with pytest.raises(KornewsError, match=err(
            f"{path}: missing columns 'title', 'cleanBody', 'category' needed by mode 3 and for labels "
            "(found: headline, text); map them with --columns.title=headline --columns.body=text --columns.label=...")):
        load_articles(path, mode=3)


def test_bad_empty_file(tmp_path):
    path = write(tmp_path / "e.csv", "\n \n")
    with pytest.raises(KornewsError, match=err(f"{path}: file is empty")):
        read_table(path)


def test_bad_bom_only_file(tmp_path):
    path = write(tmp_path / "e.csv", "", "utf-8-sig")
    with pytest.raises(KornewsError, match=err(f"{path}: file is empty")):
        read_table(path)


def test_bad_header_only(tmp_path):
    path = write(tmp_path / "h.csv", "id,title,cleanBody,category\n")
    with pytest.raises(KornewsError, match=err(f"{path}: no data rows (only a header)")):
        load_articles(path, mode=1)


def test_bad_all_texts_empty(tmp_path):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가,,a\n나,  ,a\n다,,b\n")
    with pytest.raises(KornewsError, match=err(f"{path}: no text in any of the 3 rows (cleanBody empty everywhere)")):
        load_articles(path, mode=1)


def test_bad_nan_label(tmp_path):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가,본문,a\n나,본문,\n")
    with pytest.raises(KornewsError, match=err(f"{path}: empty label in row 2 (column 'category')")):
        load_articles(path, mode=1)


def test_bad_several_nan_labels_in_dataframe():
    frame = pd.DataFrame({"title": ["가", "나", "다"], "category": [None, "a", float("nan")]})
    with pytest.raises(KornewsError, match=err("<table>: empty label in 2 rows (first row 1; column 'category')")):
        load_articles(frame, mode=2)


def test_bad_unknown_labels_at_evaluation():
    labels = LabelMap.fit(["culture", "economy", "it"])
    with pytest.raises(KornewsError, match=err(
            "test.csv: labels never seen in training: 'weather' (3 rows, first row 17), 'travel' (1 row, row 18); "
            "known: culture, economy, it")):
        labels.encode(["it", "weather", "travel", "weather", "weather"], source="test.csv",
                      rows=[16, 17, 18, 19, 20])


def test_bad_wrong_explicit_encoding(tmp_path):
    path = write(tmp_path / "k.csv", KNEWS_CSV, "cp949")
    offset = KNEWS_CSV.encode("cp949").index("정".encode("cp949"))
    with pytest.raises(KornewsError, match=err(
            f"{path}: not valid utf-8 (byte 0xc1 at offset {offset}); "
            "check --encoding, or leave it out to detect the encoding")):
        read_table(path, encoding="utf-8")


def test_bad_unknown_encoding_name(tmp_path):
    path = write(tmp_path / "k.csv", KNEWS_CSV)
    with pytest.raises(KornewsError, match=err(f"{path}: unknown encoding 'klingon'")):
        read_table(path, encoding="klingon")


def test_bad_binary_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))
    with pytest.raises(KornewsError, match=err(
            f"{path}: binary file (contains NUL bytes), not a text table; "
            "save it as UTF-8 CSV, TSV or JSONL, or as Parquet")):
        read_table(path)


def test_bad_undecodable_file(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(bytes(range(128, 256)) * 20)
    with pytest.raises(KornewsError, match=err(
            f"{path}: binary or undecodable file (not UTF-8, not CP949, no other encoding fits)")):
        read_table(path)


def test_bad_corrupt_parquet(tmp_path):
    path = write(tmp_path / "a.parquet", "this is not parquet")
    with pytest.raises(KornewsError, match=f"^{re.escape(str(path))}: not a readable Parquet file \\(.+\\)$"):
        read_table(path)


def test_bad_huge_article_is_cut_fast_with_warning(tmp_path, caplog):
    path = tmp_path / "big.csv"
    body = "가나다라마바사 " * 125_000                       # 1,000,000 characters
    path.write_text(f"title,cleanBody,category\n짧은 제목,{body},a\n보통,본문,b\n", encoding="utf-8")
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="kornews.data"):
        df = load_articles(path, mode=3)
    assert time.perf_counter() - start < 5
    assert df.body.str.len().tolist() == [20000, 2]
    assert caplog.messages == [f"{path}: cut 1 row with a text longer than 20000 characters (first row 1)"]


def test_bad_malformed_jsonl_line(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"title": "가"}\n\n{"title": "나",}\n')
    with pytest.raises(KornewsError, match=err(
            f"{path}: malformed JSONL at line 3: Expecting property name enclosed in double quotes (column 15)")):
        read_table(path)


def test_bad_jsonl_line_not_an_object(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"title": "가"}\n["나"]\n')
    with pytest.raises(KornewsError, match=err(
            f"{path}: malformed JSONL at line 2: expected an object {{...}}, got list")):
        read_table(path)


def test_bad_csv_extra_field(tmp_path):
    path = write(tmp_path / "k.csv", "title,category\n가,a\n나, 다,b\n")
    with pytest.raises(KornewsError, match=err(
            f"{path}: malformed CSV: line 3 has 3 fields, the header has 2 (an unquoted separator inside a text?)")):
        read_table(path)


def test_bad_tsv_tab_inside_text(tmp_path):
    path = write(tmp_path / "y.tsv", "title\tlabel\n가\t사회\n나\t다\t세계\n")
    with pytest.raises(KornewsError, match=err(
            f"{path}: malformed TSV: line 3 has 3 fields, the header has 2 (a tab inside a text?)")):
        read_table(path)


def test_bad_csv_unclosed_quote(tmp_path):
    path = write(tmp_path / "k.csv", 'title,category\n가,a\n나,b\n"다,c\n')
    with pytest.raises(KornewsError, match=err(f"{path}: malformed CSV: unclosed quote starting at line 4")):
        read_table(path)


def test_bad_nonexistent_path(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(KornewsError, match=err(f"{path}: no such file")):
        load_articles(str(path), mode=1)


def test_bad_directory_given_as_file(tmp_path):
    write(tmp_path / "train.csv", KNEWS_CSV)
    with pytest.raises(KornewsError, match=err(f"{tmp_path}: is a directory, not a table file (it holds: train.csv)")):
        load_articles(str(tmp_path), mode=1)


def test_bad_unknown_dataset_name(small_home):
    with pytest.raises(KornewsError, match=err(
            "unknown dataset 'knews9' and no such file; known datasets: "
            "knews8 (train/test; Korean news, title and body, 8 topics; source: GitHub "
            "Moog303/Korean_News_Classification (newsData/{0..7}/*.txt, title TAB body); no licence stated; "
            "publishers' copyright: test and measure only); "
            "ynat (train/dev; KLUE YNAT headlines only, 7 topics; source: KLUE benchmark, "
            f"https://github.com/KLUE-benchmark/KLUE; CC BY-SA 4.0); data home: {small_home}")):
        resolve("knews9")


def test_bad_unknown_split(small_home):
    with pytest.raises(KornewsError, match=err("knews8 has no split 'dev'; its splits: train, test")):
        load_articles("knews8:dev", mode=1)


def test_bad_dataset_missing_from_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path))
    with pytest.raises(KornewsError, match=err(
            f"ynat:dev: ynat/dev.tsv not found in the data home ({tmp_path}); "
            "fetch it from KLUE benchmark, https://github.com/KLUE-benchmark/KLUE and set KORNEWS_DATA")):
        resolve("ynat:dev")


def test_bad_data_home_env_not_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path / "missing"))
    with pytest.raises(KornewsError, match=re.escape(
            f"(none: KORNEWS_DATA={tmp_path / 'missing'} is not a directory)")):
        resolve("knews8")


def test_bad_mode_not_supported_by_dataset(small_home):
    with pytest.raises(KornewsError, match=err(
            "ynat (KLUE YNAT headlines only, 7 topics) has no input for mode 1; use mode 2")):
        load_articles("ynat:dev", mode=1)


def test_bad_mode4_without_cluster_column():
    with pytest.raises(KornewsError, match=err("mode 4 needs a cluster column; it is filled by the run's clusterer")):
        mode_inputs(ARTICLES.drop(columns="cluster"), 4)


@pytest.mark.parametrize("mode", [0, 6, "3", True, None])
def test_bad_invalid_mode(mode, tmp_path):
    message = err(f"invalid mode {mode!r}: choose 1 (body), 2 (title), 3 (title+body pair), "
                  "4 or 5 (title+body pair with the run's clusters)")
    with pytest.raises(KornewsError, match=message):
        mode_inputs(ARTICLES, mode)
    with pytest.raises(KornewsError, match=message):
        load_articles(write(tmp_path / "k.csv", KNEWS_CSV), mode=mode)


def test_bad_cluster_value(tmp_path):
    path = write(tmp_path / "c.csv", "title,cleanBody,category,cluster\n가,본,a,1\n나,문,b,x\n")
    with pytest.raises(KornewsError, match=err(f"{path}: cluster must be a whole number, got 'x' in row 2")):
        load_articles(path, mode=4)


def test_bad_label_map_inputs():
    with pytest.raises(KornewsError, match=err("label id 3 out of range: the label map has 2 labels")):
        LabelMap(["a", "b"]).decode([0, 3])
    with pytest.raises(KornewsError, match=err("label order repeats 'a'")):
        LabelMap(["a", "b", "a"])
    with pytest.raises(KornewsError, match=err("a label map needs at least one label")):
        LabelMap.fit([])


def test_bad_split_arguments():
    df = pd.DataFrame({"label": ["a", "b"]})
    with pytest.raises(KornewsError, match=err("val_fraction must be in [0, 1), got 1.5")):
        stratified_split(df, val_fraction=1.5)
    with pytest.raises(KornewsError, match=err(
            "stratified_split needs a 'label' column (load the data with labeled=True)")):
        stratified_split(df.rename(columns={"label": "category"}))


def test_bad_max_chars(tmp_path):
    with pytest.raises(KornewsError, match=err("max_chars must be a positive whole number, got 0")):
        load_articles(write(tmp_path / "k.csv", KNEWS_CSV), mode=1, max_chars=0)
