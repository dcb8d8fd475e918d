"""datasets: named datasets, the data home that holds them, and `locate`, where a source name becomes a file."""
import re

import pytest
from helpers import err

from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.datasets import data_home, locate
from kornews.data.tables import read_table


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


def test_data_home_prefers_env(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path))
    assert data_home() == tmp_path


def test_data_home_finds_shared_beside_the_repo(shared, monkeypatch, tmp_path):
    monkeypatch.delenv("KORNEWS_DATA", raising=False)
    monkeypatch.chdir(tmp_path)                      # no ../shared/data from here: found from the package
    assert data_home() == shared


def test_locate(small_home, tmp_path):
    path, dataset = locate("knews8")
    assert path == small_home / "knews8" / "train.csv" and dataset.name == "knews8"
    assert locate("ynat:dev")[0] == small_home / "ynat" / "dev.tsv"
    assert locate("ynat", split="dev")[0] == small_home / "ynat" / "dev.tsv"
    assert locate(str(tmp_path / "mine.tsv")) == (tmp_path / "mine.tsv", None)


def test_read_named_slices(small_home):
    knews = articles.read("knews8", mode=3).frame
    assert len(knews) == 40 and knews.label.value_counts().eq(5).all()
    ynat = articles.read("ynat:dev", mode=2).frame
    assert len(ynat) == 30 and ynat.id[0] == "ynat-v1_dev_00000"
    headlines = articles.read("ynat:dev", mode=3, quiet=True)  # a title+body run reads the headlines alone
    assert headlines.columns == {"title": "title", "label": "label", "id": "guid"}
    assert headlines.frame.title.tolist() == ynat.title.tolist() and (headlines.frame.body == "").all()


def test_bad_unknown_dataset_name(small_home):
    with pytest.raises(KornewsError, match=r"^unknown dataset 'knews9' and no such file; known datasets: knews8 .*"
                                           rf"ynat .*; data home: {re.escape(str(small_home))}$"):
        locate("knews9")


def test_bad_unknown_split(small_home):
    with pytest.raises(KornewsError, match=err("knews8 has no split 'dev'; its splits: train, test")):
        locate("knews8:dev")


def test_bad_dataset_missing_from_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path))
    home = re.escape(str(tmp_path))
    with pytest.raises(KornewsError, match=f"^ynat:dev: ynat/dev.tsv not found in the data home \\({home}\\)"):
        locate("ynat:dev")


def test_bad_data_home_env_not_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path / "missing"))
    with pytest.raises(KornewsError, match=re.escape(f"KORNEWS_DATA={tmp_path / 'missing'} is not a directory")):
        locate("knews8")


def test_bad_mode_not_supported_by_dataset(small_home):
    with pytest.raises(KornewsError, match=err(
            "ynat (KLUE YNAT headlines only, 7 topics) has no input for mode 1; use mode 2, 3, 4 or 5")):
        articles.read("ynat:dev", mode=1)
