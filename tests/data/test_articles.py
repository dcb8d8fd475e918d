"""articles: the one reader — every source into the same normalized articles, by one set of rules."""
import io
import logging
import sys
import time

import pandas as pd
import pytest
from helpers import KNEWS_CSV, err, write

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.datasets import Columns
from kornews.training import setup


def read(source, **kw):
    return articles.read(source, **{"mode": 3, **kw}).frame


def test_read_normalizes(tmp_path):
    df = read(write(tmp_path / "k.csv", KNEWS_CSV))
    assert list(df.columns) == ["id", "title", "body", "label", "row", "truncated"]
    assert df.body.tolist() == ["국회에서 예산안을, 발표했다.", "코스피가 올랐다"]   # stripped
    assert df.row.tolist() == [1, 2] and not df.truncated.any()


def test_read_only_needs_the_mode_columns(tmp_path):
    path = write(tmp_path / "t.csv", "title\n가\n나\n")
    df = read(path, mode=2, labeled=False)
    assert df.title.tolist() == ["가", "나"] and df.body.tolist() == ["", ""]
    assert df.id.tolist() == ["1", "2"]               # no id column: row numbers
    assert "label" not in df


def test_a_pair_mode_reads_headlines_alone_with_one_warning(tmp_path, caplog):
    path = write(tmp_path / "h.csv", 'headline,label\n"한은, 기준금리 동결",economy\n,economy\n')
    with caplog.at_level(logging.WARNING, logger="kornews.data.articles"):
        reading = articles.read(path, mode=3)
    assert reading.frame.title.tolist() == ["한은, 기준금리 동결"] and reading.frame.body.tolist() == [""]
    assert caplog.messages == [f"{path}: no body column ('cleanBody' or an alias); reading the title alone",
                               f"{path}: skipped 1 of 2 rows with empty headline (first row 2)"]


def test_read_cluster_column_is_int(tmp_path):
    path = write(tmp_path / "c.csv", "title,cleanBody,category,cluster\n가,본,a,3\n나,문,b,0\n")
    assert read(path, mode=4).cluster.tolist() == [3, 0]


def test_read_skips_empty_texts_with_counted_warning(tmp_path, caplog):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가, ,a\n나,본문,a\n다,,b\n")
    with caplog.at_level(logging.WARNING, logger="kornews.data.articles"):
        reading = articles.read(path, mode=1)
    assert reading.frame.row.tolist() == [2] and (reading.rows, reading.skipped) == (3, 2)
    assert caplog.messages == [f"{path}: skipped 2 of 3 rows with empty cleanBody (first row 1)"]


def test_mode3_keeps_rows_with_title_or_body(tmp_path, caplog):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n,본문,a\n제목,,a\n,,b\n")
    with caplog.at_level(logging.WARNING, logger="kornews.data.articles"):
        df = read(path)
    assert df.row.tolist() == [1, 2]
    assert caplog.messages == [f"{path}: skipped 1 of 3 rows with empty title and cleanBody (first row 3)"]


def test_read_huge_article_is_cut_fast_and_counted(tmp_path, caplog):
    path = tmp_path / "big.csv"
    body = "가나다라마바사 " * 125_000                       # 1,000,000 characters
    path.write_text(f"title,cleanBody,category\n짧은 제목,{body},a\n보통,본문,b\n", encoding="utf-8")
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="kornews.data.articles"):
        reading = articles.read(path, mode=3)
    assert time.perf_counter() - start < 5
    assert reading.frame.body.str.len().tolist() == [20000, 2] and reading.frame.truncated.tolist() == [True, False]
    assert reading.cut == 1
    assert caplog.messages == [f"{path}: cut 1 row with a text longer than 20000 characters (first row 1)"]


@pytest.mark.parametrize("header", ["제목,본문,카테고리", "headline,text,topic", "Title,Body,Label"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_read_detects_aliases_korean_headers_included(tmp_path, header, encoding):
    path = write(tmp_path / "k.csv", f"{header}\n정부 예산안,국회 발표,politics\n", encoding)
    df = read(path)
    assert (df.title[0], df.body[0], df.label[0]) == ("정부 예산안", "국회 발표", "politics")


def test_read_run_columns_first_then_aliases(tmp_path):
    path = write(tmp_path / "n.csv", "headline,text,body,topic\n가,본문,다른 본문,it\n")
    df = read(path, columns=Columns(title="headline", body="text", label="topic"))
    assert (df.title[0], df.body[0], df.label[0]) == ("가", "본문", "it")
    assert read(path).body[0] == "다른 본문"          # no run columns: the first alias present


def test_read_stdin_detects_columns(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("title\tlabel\n가\t사회\n".encode())))
    assert read("-", mode=2).label.tolist() == ["사회"]


def test_read_dataframe_with_nan():
    frame = pd.DataFrame({"title": ["가", float("nan")], "cleanBody": ["본문", None], "category": ["a", "b"]},
                         index=[10, 5])
    df = read(frame)
    assert df.title.tolist() == ["가"] and df.row.tolist() == [1]


def test_read_dicts_and_strings():
    dicts = [{"title": " 가 ", "body": "본문"}, {"title": "나", "body": "둘"}]
    assert read(dicts, labeled=False)[["title", "body"]].values.tolist() == [["가", "본문"], ["나", "둘"]]
    assert read([{"제목": "다", "본문": "셋"}], labeled=False)[["title", "body"]].values.tolist() == [["다", "셋"]]
    assert read(["손흥민 골"], mode=2, labeled=False).title.tolist() == ["손흥민 골"]
    assert read(["본문만"], mode=1, labeled=False).body.tolist() == ["본문만"]


def test_dicts_with_other_keys_numbers_and_gaps_read_as_a_table_would():
    dicts = [{"title": "가", "id": 7, "cluster": "2.0"}, {"body": "본문", "cluster": 1, "extra": [1]}]
    df = read(dicts, mode=4, labeled=False)
    assert df.id.tolist() == ["7", ""] and df.title.tolist() == ["가", ""] and df.body.tolist() == ["", "본문"]
    assert df.cluster.tolist() == [2, 1] and str(df.cluster.dtype) == "int64" and str(df.row.dtype) == "int64"
    assert df.truncated.dtype == bool and not df.truncated.any()
    with pytest.raises(KornewsError, match=r"cluster must be a whole number, got '1.5' in row 1"):
        read([{"title": "가", "cluster": "1.5"}], mode=4, labeled=False)
    # a frame with one name twice: the first column counts, as in a file
    twice = pd.DataFrame([["가", "나", "본"]], columns=["title", "title", "body"])
    assert read(twice, labeled=False).title.tolist() == ["가"]


def test_read_normalized_frame_again_is_the_same(tmp_path):
    once = read(write(tmp_path / "k.csv", KNEWS_CSV))
    twice = read(once)
    pd.testing.assert_frame_equal(once, twice)


def test_same_file_same_articles_through_every_path(tmp_path, tiny_runs, tiny_cfg):
    """train (the loop's reader), evaluate/predict (the classifier's), the server's file route and `data info`
    read a Korean-headed CP949 file alike."""
    from kornews.commands.data import data_info
    from kornews.data.tables import parse_table
    from kornews.inference.classifier import Classifier
    text = "제목,본문,카테고리\n정부 예산안,국회 발표 ,politics\n,,it\n주가, 코스피 상승,economy\n" + \
        "긴 기사," + "가" * 25000 + ",it\n"
    path = write(tmp_path / "k.csv", text, "cp949")
    clf = Classifier.load(tiny_runs(3))
    by_reader = read(path)
    by_training = setup.read_split(tiny_cfg(train=str(path)), str(path), "train")
    by_classifier = clf.read(path, labeled=True).frame
    by_upload = clf.read(parse_table(path.read_bytes(), "k.csv"), labeled=True).frame
    for other in (by_training, by_classifier, by_upload):
        pd.testing.assert_frame_equal(by_reader, other)
    assert by_reader.row.tolist() == [1, 3, 4] and by_reader.truncated.tolist() == [False, False, True]
    info = data_info(str(path))
    assert "title ← 제목, body ← 본문, label ← 카테고리" in info
    assert "4 read, 3 articles (1 skipped for empty text, 1 cut to 20,000 chars)" in info


# --- the bad-input table: the one line each problem gives ------------------------------------------------

BAD = [
    ("renamed body column", "title,body2,category\n가,나,a\n", {"mode": 1},
     "{path}: missing column 'cleanBody' needed by mode 1 (found: title, body2, category); "
     "map it with --columns.body=body2"),
    ("several missing columns", "headline2,text2\n가,나\n", {},
     "{path}: missing columns 'title', 'cleanBody', 'category' needed by mode 3 and for labels "
     "(found: headline2, text2); map them with --columns.title=headline2 --columns.body=text2 "
     "--columns.label=..."),
    ("header only", "id,title,cleanBody,category\n", {"mode": 1}, "{path}: no data rows (only a header)"),
    ("all texts empty", "title,cleanBody,category\n가,,a\n나,  ,a\n다,,b\n", {"mode": 1},
     "{path}: no text in any of the 3 rows (cleanBody empty everywhere)"),
    ("empty label", "title,cleanBody,category\n가,본문,a\n나,본문,\n", {"mode": 1},
     "{path}: empty label in row 2 (column 'category')"),
    ("cluster not a number", "title,cleanBody,category,cluster\n가,본,a,1\n나,문,b,x\n", {"mode": 4},
     "{path}: cluster must be a whole number, got 'x' in row 2"),
    ("max_chars zero", KNEWS_CSV, {"mode": 1, "max_chars": 0}, "max_chars must be a positive whole number, got 0"),
] + [(f"invalid mode {m!r}", KNEWS_CSV, {"mode": m},
      f"invalid mode {m!r}: choose 1 (body), 2 (title), 3 (title+body pair), "
      "4 or 5 (title+body pair with the run's clusters)") for m in (0, 6, "3", True, None)]


@pytest.mark.parametrize("text, options, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_sources(tmp_path, text, options, message):
    path = write(tmp_path / "k.csv", text)
    with pytest.raises(KornewsError, match=err(message.format(path=path))):
        articles.read(path, **{"mode": 3, **options})


def test_bad_several_empty_labels_in_a_frame():
    frame = pd.DataFrame({"title": ["가", "나", "다"], "category": [None, "a", float("nan")]})
    with pytest.raises(KornewsError, match=err("<table>: empty label in 2 rows (first row 1; column 'category')")):
        read(frame, mode=2)


def test_bad_articles_list():
    with pytest.raises(KornewsError, match=err("no articles given")):
        read([], labeled=False)
    with pytest.raises(KornewsError, match=err("article 1: expected a dict with title/body or a string, got int")):
        read(["가", 3], labeled=False)
