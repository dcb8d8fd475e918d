"""commands.learn (`kornews learn`): a run taught an editor's labels is an ordinary run directory — the held-out
labels choose its epoch and calibrate it, a new topic gets a head row, the card estimates its accuracy; resumable;
bad input is one line and writes nothing."""
import json

import numpy as np
import pandas as pd
import pytest
from helpers import interrupt_training

from kornews import Classifier
from kornews.cli import main
from kornews.commands.learn import learn_run, resume_learn
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.data.folds import validation_split
from kornews.stats.monitor import Reference
from kornews.training import config
from kornews.training.ways.taught import ESTIMATE, editor_split

QUIET = {"progress": False, "log": lambda s: None}
TOPICS = {"정치": "politics", "경제": "economy", "사회": "society", "세계": "international", "스포츠": "sport",
          "IT과학": "it", "생활문화": "culture"}


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    """A `choose` sheet an editor filled in: 35 YNAT dev headlines labelled with the run's topics, 5 more with a
    topic the run does not know (날씨), 4 left empty, and one article answered twice (the second answer counts)."""
    from kornews.data.datasets import data_home
    home = data_home()
    if home is None or not (home / "ynat" / "dev.tsv").is_file():
        pytest.skip("needs ../shared/data/ynat")
    df = articles.read("ynat:dev", mode=2, quiet=True).frame
    df = df.groupby("label", group_keys=False).head(5).head(35)
    rows = pd.DataFrame({"id": df["id"], "title": df["title"], "body": "", "suggested": "society",
                         "confidence": 0.5, "label": df["label"].map(TOPICS)})
    weather = pd.DataFrame({"id": [f"w{i}" for i in range(5)], "title": [
        "내일 전국 흐리고 비…기온 뚝 떨어져", "주말 한파 특보…서울 영하 10도", "태풍 북상에 남해안 강풍 주의보",
        "장마전선 북상, 중부지방 집중호우", "황사 섞인 미세먼지, 오후부터 차차 해소"], "body": "", "suggested": "society",
        "confidence": 0.4, "label": "날씨"})
    empty = pd.DataFrame({"id": [f"e{i}" for i in range(4)], "title": [f"아직 답하지 않은 기사 {i}" for i in range(4)],
                          "body": "", "suggested": "it", "confidence": 0.3, "label": ""})
    again = rows.iloc[[0]].assign(label="economy" if rows.iloc[0]["label"] != "economy" else "politics")
    path = tmp_path_factory.mktemp("sheet") / "chosen.csv"
    pd.concat([rows, weather, empty, again]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def taught(tiny_run, sheet, tmp_path_factory):
    out = tmp_path_factory.mktemp("taught") / "run"
    return out, learn_run(tiny_run, sheet, out, epochs=1, **QUIET)


def test_the_editors_labels_are_split_once(tiny_run, sheet):
    cfg = config.read_run(tiny_run)
    from kornews.training.ways import LearnConfig
    cfg = config.load(None, (), base={**config.to_dict(cfg), "learn": {"source": str(tiny_run),
                                                                          "labels": str(sheet)}})
    train, held = editor_split(cfg)
    both = pd.concat([train, held])
    assert len(both) == 40 and set(both["id"]).isdisjoint({"e0", "e1", "e2", "e3"})  # empty labels: no answer
    first = pd.read_csv(sheet, dtype=str, keep_default_na=False).iloc[-1]
    assert both.set_index("id").loc[first["id"], "label"] == first["label"]  # the later answer counts
    counts = both["label"].value_counts()
    assert len(held) == sum(min(n - 1, int(n * 0.25 + 0.5)) for n in counts)  # stratified: a quarter of each topic
    assert set(held["label"]) <= set(train["label"])
    assert (editor_split(cfg)[1]["id"].tolist() == held["id"].tolist())  # the same split every time
    assert LearnConfig(source="r", labels="l").problems(cfg)[2][0]
    # choose's random checks, where there are enough, are the held-out ones: the chosen are the run's hardest
    sheet_df = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    picks = ["check" if k % 4 == 1 else "default" for k in range(len(sheet_df))]
    sheet_df.assign(pick=picks).to_csv(sheet.parent / "picked.csv", index=False)
    cfg_picked = config.load(None, (), base={**config.to_dict(cfg), "learn": {
        "source": str(tiny_run), "labels": str(sheet.parent / "picked.csv")}})
    train, held = editor_split(cfg_picked)
    assert (held["pick"] == "check").all() and (train["pick"] == "default").all() and len(held) >= 10
    few = sheet_df.assign(pick=["check" if k < 3 else "default" for k in range(len(sheet_df))])
    few.to_csv(sheet.parent / "few.csv", index=False)  # three checks: too few to choose an epoch on
    cfg_few = config.load(None, (), base={**config.to_dict(cfg), "learn": {
        "source": str(tiny_run), "labels": str(sheet.parent / "few.csv")}})
    assert editor_split(cfg_few)[1]["id"].tolist() == editor_split(cfg)[1]["id"].tolist()  # the stratified share


def test_learning_makes_an_ordinary_run_that_knows_the_new_topic(taught, tiny_run, sheet):
    out, result = taught
    cfg = config.read_run(out)
    assert cfg.learn.source == str(tiny_run.resolve()) and cfg.learn.labels == str(sheet.resolve())
    assert cfg.head_init == "random" and cfg.fusion is None and cfg.epochs == 1
    clf = Classifier.load(out)
    source = Classifier.load(tiny_run)
    assert clf.labels == source.labels + ["날씨"]  # the new topic after the ones it knew
    assert clf.predict_proba(["서울 내일 비 소식"]).shape == (1, len(source.labels) + 1)
    # the held-out labels chose the epoch; they and the run's own validation split fitted the calibration
    held = editor_split(cfg)[1]
    own = validation_split(cfg, articles.read(cfg.train, mode=cfg.mode, quiet=True).frame)[1]
    assert json.loads((out / "calibration.json").read_text())["fitted_on"] == \
        f"held-out labels and validation split ({len(held) + len(own)} articles)"
    assert [r["epoch"] for r in rundir.read_metrics(out)] == [1]
    # its monitoring reference: the editor's held-out labels alone, the news it is taught for
    reference = Reference.load(out)
    assert reference.source == f"held-out labels ({len(held)} articles)" and reference.n == len(held)
    # the estimate: the taught run and its source on the held-out labels
    saved = json.loads((out / ESTIMATE).read_text())
    assert saved == json.loads(json.dumps(result)) and result["n"] == len(held) and result["trained_on"] == 40 - len(held)
    assert result["accuracy"] == np.mean(np.asarray(clf.predict(held)) == held["label"].to_numpy())
    lo, hi = result["interval"]
    assert 0 <= lo <= result["accuracy"] <= hi <= 1 and hi - lo > 0.2  # nine labels say little, and it says so
    card = (out / "README.md").read_text()
    assert "## Taught an editor's labels" in card and f"{result['accuracy']:.1%}" in card and "날씨" in card
    # what every run can do
    held[["id", "title", "label"]].to_csv(out.parent / "held.csv", index=False)
    assert main(["evaluate", str(out), str(out.parent / "held.csv"), "--quiet"]) == 0
    assert json.loads((out / "report.json").read_text())["accuracy"] == pytest.approx(result["accuracy"])
    assert main(["predict", str(out), str(sheet), "-o", str(out.parent / "p.csv"), "--quiet"]) == 0
    assert len(pd.read_csv(out.parent / "p.csv")) == 45  # every row of the sheet, answered or not


def test_bad_labels_are_one_line_and_write_nothing(tiny_run, tmp_path):
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"id": ["a", "b"], "title": ["기사 하나", "기사 둘"], "label": ["", ""]}).to_csv(empty, index=False)
    with pytest.raises(KornewsError, match="no labelled row yet"):
        learn_run(tiny_run, empty, tmp_path / "out", **QUIET)
    one = tmp_path / "one.csv"
    pd.DataFrame({"id": ["a"], "title": ["기사 하나"], "label": ["politics"]}).to_csv(one, index=False)
    with pytest.raises(KornewsError, match="leave none to hold out"):
        learn_run(tiny_run, one, tmp_path / "out", **QUIET)
    with pytest.raises(KornewsError, match="learn.held_out must be in"):
        learn_run(tiny_run, one, tmp_path / "out", held_out=1.5, **QUIET)
    with pytest.raises(KornewsError, match="not -"):
        learn_run(tiny_run, "-", tmp_path / "out", **QUIET)
    assert not (tmp_path / "out").exists()
    assert main(["learn", str(tiny_run)]) == 2


def test_learning_resumes_after_an_interruption(tiny_run, sheet, tmp_path, monkeypatch):
    out = tmp_path / "run"
    resume_training = interrupt_training(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        learn_run(tiny_run, sheet, out, epochs=1, **QUIET)
    assert (out / "learn" / "config.yaml").is_file() and not (out / rundir.FINAL).exists()
    with pytest.raises(KornewsError, match="exists and is not empty"):
        learn_run(tiny_run, sheet, out, **QUIET)
    resume_training()
    assert main(["learn", "--resume", str(out), "--quiet"]) == 0
    assert (out / rundir.FINAL).is_file() and (out / ESTIMATE).is_file()
    with pytest.raises(KornewsError, match="learning already finished"):
        resume_learn(out, **QUIET)


def test_pseudo_labels_of_the_pool_join_the_labels(tiny_run, sheet, tmp_path):
    """--unlabeled: the surest articles of each topic in the pool, never one the editor answered, trained on beside
    the labels; written before training, so a resumed learning reuses them."""
    pool = tmp_path / "pool.csv"
    from kornews.data import articles as reader
    frame = reader.read("ynat:dev", mode=2, quiet=True).frame.iloc[100:160]
    answered = pd.read_csv(sheet, dtype=str, keep_default_na=False).head(5)
    pd.concat([frame[["id", "title"]], answered[["id", "title"]]]).to_csv(pool, index=False)
    out = tmp_path / "run"
    learn_run(tiny_run, sheet, out, epochs=1, unlabeled=pool, per_topic=2, **QUIET)
    cfg = config.read_run(out)
    assert cfg.learn.unlabeled == str(pool) and cfg.learn.pseudo == str((out / "learn" / "pseudo.csv").resolve())
    pseudo = pd.read_csv(cfg.learn.pseudo, dtype=str, keep_default_na=False)
    assert 0 < len(pseudo) <= 2 * len(Classifier.load(tiny_run).labels)
    assert pseudo["label"].value_counts().max() <= 2 and set(pseudo["id"]).isdisjoint(answered["id"])
    assert "pseudo-labelled articles per topic" in (out / "README.md").read_text()
