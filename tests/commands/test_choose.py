"""commands.choose (`kornews choose`): the articles worth labelling, as a CSV to fill in; the pool's labels are never
read, probabilities and embeddings are cached, labelled articles are never chosen again."""
import pandas as pd
import pytest

from kornews.cli import main
from kornews.commands import choose
from kornews.core.errors import KornewsError
from kornews.data import articles


@pytest.fixture
def pool(slices, tmp_path):
    """32 knews8 test articles with a label column the run could read, and the same with that column shuffled."""
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    path, shuffled = tmp_path / "pool.csv", tmp_path / "shuffled.csv"
    df.to_csv(path, index=False)
    df.assign(category=df["category"].sample(frac=1, random_state=1).to_numpy()).to_csv(shuffled, index=False)
    return path, shuffled


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KORNEWS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


QUIET = {"embedder": "use", "progress": False, "log": lambda s: None}


def test_chosen_articles_are_a_sheet_to_fill_in(tiny_run, pool, home, tmp_path):
    out = tmp_path / "chosen.csv"
    table = choose.choose_articles(tiny_run, pool[0], out, n=10, **QUIET)
    sheet = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(sheet.columns) == ["id", "title", "body", "suggested", "confidence", "pick", "label"]
    assert len(sheet) == 10 == sheet["id"].nunique() and (sheet["label"] == "").all()
    # a fifth drawn at random to check the run, spread among the chosen (not all at the end)
    assert sheet["pick"].tolist().count("check") == 2 and set(sheet["pick"]) == {"check", "default"}
    assert [i for i, pick in enumerate(sheet["pick"]) if pick == "check"] == [3, 8]
    assert sheet["id"].tolist() == table["id"].tolist()
    labels = set(pd.read_csv(pool[0], dtype=str)["category"])
    assert set(sheet["suggested"]) <= labels and ((0 < table["confidence"]) & (table["confidence"] <= 1)).all()
    # the sheet, once filled in, reads back as labelled articles
    sheet.assign(label=sheet["suggested"]).to_csv(tmp_path / "filled.csv", index=False)
    back = articles.read(tmp_path / "filled.csv", mode=3).frame
    assert back["label"].tolist() == sheet["suggested"].tolist() and back["body"].tolist() == sheet["body"].tolist()


def test_the_pool_s_labels_are_never_read(tiny_run, pool, home, tmp_path, reads):
    picks = [choose.choose_articles(tiny_run, source, tmp_path / f"{k}.csv", n=6, **QUIET)["id"].tolist()
             for k, source in enumerate(pool)]
    assert picks[0] == picks[1]  # a shuffled label column changes nothing
    assert [labeled for source, labeled in reads if source in map(str, pool)] == [False, False]


def test_a_second_choice_pays_for_neither_probabilities_nor_embeddings(tiny_run, pool, home, tmp_path, monkeypatch,
                                                                       embed_calls):
    scored = []
    real = choose.Classifier.predict_proba
    monkeypatch.setattr(choose.Classifier, "predict_proba", lambda self, *a, **k: scored.append(1) or real(self, *a,
                                                                                                          **k))
    first = choose.choose_articles(tiny_run, pool[0], tmp_path / "a.csv", n=5, **QUIET)
    assert scored == [1] and embed_calls
    embed_calls.clear()
    again = choose.choose_articles(tiny_run, pool[0], tmp_path / "b.csv", n=5, strategy="uncertainty", **QUIET)
    assert scored == [1] and embed_calls == []
    assert len(again) == len(first) == 5


def test_labelled_articles_are_not_chosen_again(tiny_run, pool, home, tmp_path):
    first = choose.choose_articles(tiny_run, pool[0], tmp_path / "round1.csv", n=10, **QUIET)
    second = choose.choose_articles(tiny_run, pool[0], tmp_path / "round2.csv", n=10, labeled=tmp_path / "round1.csv",
                                    **QUIET)
    assert not set(first["id"]) & set(second["id"]) and len(second) == 10


def test_the_verb_writes_the_sheet_and_says_so(tiny_run, pool, home, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(choose, "EMBEDDER", "use")  # the tests' embedder: me5-small is the slower default
    out = tmp_path / "chosen.csv"
    assert main(["choose", str(tiny_run), str(pool[0]), "-n", "4", "-o", str(out), "--strategy", "random",
                 "--quiet"]) == 0
    assert len(pd.read_csv(out)) == 4 and f"by random, 1 of them at random to check the run, seed 0: {out}" in \
        capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["-n", "3", "--strategy", "smart"], "strategy must be one of default, uncertainty, diversity, random"),
    (["-n", "0"], "n must be at least 1"),
])
def test_bad_requests_are_one_line(tiny_run, pool, home, tmp_path, capsys, args, message):
    assert main(["choose", str(tiny_run), str(pool[0]), "-o", str(tmp_path / "x.csv"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()


def test_labels_file_without_ids_is_refused(tiny_run, pool, home, tmp_path):
    pd.DataFrame({"title": ["제목"], "label": ["sport"]}).to_csv(tmp_path / "noid.csv", index=False)
    with pytest.raises(KornewsError, match="no id column"):
        choose.choose_articles(tiny_run, pool[0], tmp_path / "x.csv", n=3, labeled=tmp_path / "noid.csv", **QUIET)


def test_the_random_checks_follow_the_seed_and_can_be_turned_off(tiny_run, pool, home, tmp_path):
    a, b = (choose.choose_articles(tiny_run, pool[0], tmp_path / f"{k}.csv", n=10, seed=3, **QUIET) for k in "ab")
    assert a.equals(b)
    none = choose.choose_articles(tiny_run, pool[0], tmp_path / "c.csv", n=10, checks=0, **QUIET)
    assert set(none["pick"]) == {"default"} and len(none) == 10
    with pytest.raises(KornewsError, match="checks must be in"):
        choose.choose_articles(tiny_run, pool[0], tmp_path / "d.csv", n=10, checks=1.0, **QUIET)
