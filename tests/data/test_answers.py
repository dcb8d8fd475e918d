"""data.answers: the labelling page's append-only answers file — the last answer counts, a skip is an empty label,
a line torn by a kill mid-write is dropped, and the file reads back as a labelled source."""
import json

import pytest

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.answers import Answers

A = {"id": "a1", "title": "코스피 2% 급등", "body": "외국인 매수세"}
B = {"id": "b2", "title": "국회 본회의 예산안 통과", "body": ""}
C = {"id": "c3", "title": "내일 전국 비", "body": ""}


def test_answers_append_and_the_last_one_counts(tmp_path):
    store = Answers(tmp_path / "sub" / "answers.jsonl")
    assert store.latest() == {}
    store.append(A, "economy")
    store.append(B, "society")
    store.append(B, "politics")   # changed after Backspace
    store.append(C, None)         # skipped
    lines = (tmp_path / "sub" / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["title"] == A["title"]  # Korean kept as it is
    latest = store.latest()
    assert list(latest) == ["a1", "b2", "c3"] and latest["b2"]["label"] == "politics" and latest["c3"]["label"] == ""
    # the same file is a labelled source: last answers, skips left out
    frame = articles.read(store.path, mode=3, skip_unlabeled=True, quiet=True).frame
    assert frame[["id", "label"]].values.tolist() == [["a1", "economy"], ["b2", "politics"]]


def test_a_torn_last_line_is_dropped_and_the_next_answer_is_whole(tmp_path):
    path = tmp_path / "answers.jsonl"
    store = Answers(path)
    store.append(A, "economy")
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "b2", "title": "국회')   # killed mid-write
    assert list(store.latest()) == ["a1"]
    store.append(C, "culture")
    assert [json.loads(x)["id"] for x in path.read_text(encoding="utf-8").splitlines()] == ["a1", "c3"]


def test_a_broken_line_inside_the_file_is_one_error(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"id": "a1", "label": "it"}\nnot json\n{"id": "b2", "label": "it"}\n', encoding="utf-8")
    with pytest.raises(KornewsError, match="line 2 is not an answer"):
        Answers(path).latest()


def test_a_sheet_half_filled_in_reads_its_answers_only(tmp_path):
    sheet = tmp_path / "chosen.csv"
    sheet.write_text("id,title,body,suggested,confidence,label\n1,가,,it,0.5,it\n2,나,,it,0.5,\n3,다,,it,0.5,sport\n"
                     "1,가,,it,0.5,economy\n", encoding="utf-8")
    reading = articles.read(sheet, mode=3, skip_unlabeled=True, quiet=True)
    assert reading.frame[["id", "label"]].values.tolist() == [["3", "sport"], ["1", "economy"]]
    assert reading.skipped == 2
    with pytest.raises(KornewsError, match="empty label"):  # an ordinary labelled read still refuses it
        articles.read(sheet, mode=3, quiet=True)
