"""commands.data: `kornews data info` shows what the one reader makes of a source."""
import re

from helpers import write

from kornews.commands.data import data_info


def test_info_numbers(tmp_path):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가나,본문 하나,a\n가나,,a\n다,본문둘,b\n")
    text = data_info(str(path))
    assert f"source     {path} (csv, utf-8)" in text
    assert "columns    title ← title, body ← cleanBody, label ← category" in text
    assert "mode       3" in text and "3 read, 3 articles (0 skipped for empty text, 0 cut" in text
    assert re.search(r"^a\s+2\s+66\.7%$", text, re.M) and re.search(r"^b\s+1\s+33\.3%$", text, re.M)
    #                       min mean median p90 max empty dups
    assert re.search(r"^title\s+1\s+1\.7\s+2\.0\s+2\.0\s+2\s+0\s+1$", text, re.M)
    assert re.search(r"^body\s+3\s+4\.0\s+4\.0\s+4\.8\s+5\s+1\s+0$", text, re.M)


def test_info_mode_changes_what_is_read(tmp_path):
    path = write(tmp_path / "k.csv", "title,cleanBody,category\n가,,a\n,본문,b\n")
    assert "2 read, 1 articles (1 skipped" in data_info(str(path), mode=1)
    assert "2 read, 2 articles (0 skipped" in data_info(str(path))


def test_info_of_unlabelled_and_badly_labelled_files(tmp_path):
    text = data_info(str(write(tmp_path / "t.csv", "title\n가\n")))
    assert "mode       2" in text and "label (" not in text
    bad = data_info(str(write(tmp_path / "b.csv", "title,category\n가,a\n나,\n")))
    assert "problem    as training data:" in bad and "empty label in row 2" in bad
