"""cli: the verbs as a user types them; `kornews data info` prints the data README's numbers; bad input is one
line and exit 2."""
import os
import re
import sys

import pytest

from kornews.cli import main


def test_info_knews8(shared, capsys):
    assert main(["data", "info", "knews8"]) == 0
    out = capsys.readouterr().out
    assert f"source     {shared / 'knews8' / 'train.csv'} (csv, utf-8)" in out
    assert "rows       1,280 read, 1,280 articles (0 skipped for empty text, 0 cut to 20,000 chars)" in out
    assert "columns    title ← title, body ← cleanBody, label ← category, id ← id" in out
    for topic in ("politics", "economy", "society", "culture", "international", "it", "entertain", "sport"):
        assert re.search(rf"^{topic}\s+160\s+12\.5%$", out, re.M)
    # README: title about 31 characters (one empty), body about 1,040 characters (261-2,818)
    assert re.search(r"^title\s+7\s+31\.3\s+31\.0\s+39\.0\s+62\s+1\s+24$", out, re.M)
    assert re.search(r"^body\s+261\s+1,043\.2\s+975\.0\s+1,626\.1\s+2,818\s+0\s+22$", out, re.M)


def test_info_ynat_dev_path(shared, capsys):
    path = os.path.relpath(shared / "ynat" / "dev.tsv")        # ../shared/data/ynat/dev.tsv from the repo
    assert main(["data", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"source     {path} (tsv, utf-8)" in out and "mode       2" in out
    assert "rows       9,107 read, 9,107 articles" in out
    assert "columns    title ← title, label ← label, id ← guid" in out
    assert re.search(r"^사회\s+3,701\s+40\.6%$", out, re.M)            # README: dev is skewed, 사회 41%
    assert len(re.findall(r"^\S+\s+[\d,]+\s+[\d.]+%$", out, re.M)) == 7
    assert "7 labels" in out
    assert re.search(r"^title\s+4\s+27\.1\s+28\.0\s+33\.0\s+44\s+0\s+0$", out, re.M)


def test_info_bad_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "news.csv"
    bad.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert main(["data", "info", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"kornews: error: {bad}: binary file (contains NUL bytes), not a text table; "
                            "save it as UTF-8 CSV, TSV or JSONL, or as Parquet\n")


def test_info_explicit_wrong_encoding_is_one_line(tmp_path, capsys):
    path = tmp_path / "k.csv"
    path.write_bytes("title,category\n정치 뉴스,politics\n".encode("cp949"))
    assert main(["data", "info", str(path), "--encoding", "utf-8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kornews: error: {path}: not valid utf-8 ") and err.count("\n") == 1
    assert main(["data", "info", str(path)]) == 0
    assert re.search(r"^politics\s+1\s+100\.0%$", capsys.readouterr().out, re.M)


@pytest.mark.parametrize("args, message", [
    (["train", "--lr=-1"], "config: lr must be positive"),
    (["train", "--learning_rate=1"], "unknown key 'learning_rate'"),
    (["train", "--epochs=1.5"], "config: epochs must be int"),
    (["train", "--epochs", "3"], "config: expected --key=value, got '--epochs'"),
    (["train", "--threads=0"], "config: threads must be at least 1"),
    (["train", "--backbone=/nonexistent/dir/model"], "unknown backbone '/nonexistent/dir/model'"),
    (["train", "--backbone=no-such-model"], "unknown backbone 'no-such-model'"),
    (["evaluate", "/nonexistent/run", "knews8:test"], "run directory not found"),
])
def test_bad_input_cli(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("kornews: error:")


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_serve_without_its_extra_is_one_line(missing, tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "kornews.serve" or m.startswith("kornews.serve.")]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh, without the extra
    monkeypatch.setitem(sys.modules, missing, None)
    assert main(["serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"kornews: error: serve needs FastAPI and uvicorn ({missing} is not installed): "
                   "pip install 'kornews[serve]'"]
