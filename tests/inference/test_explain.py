"""explain: the words that pushed a topic, as they appear in the article, strongest first, in every mode."""
import numpy as np
import pandas as pd
import pytest

from kornews import Classifier
from kornews.cli import main
from kornews.core.errors import KornewsError
from kornews.inference.explain import _metaspace, _words

ARTICLE = {"title": "손흥민, 시즌 10호골 폭발", "body": "손흥민이 리그 경기에서 골을 터뜨리며 팀의 승리를 이끌었다."}


def test_pieces_join_into_the_articles_words(tiny_runs):
    clf = Classifier.load(tiny_runs(3))
    tok = clf.tokenizer
    ids = tok("손흥민 시즌 골", add_special_tokens=False)["input_ids"]
    words = _words(tok, ids, np.ones(len(ids)), set(tok.all_special_ids), _metaspace(tok))
    assert list(words) == ["손흥민", "시즌", "골"]
    assert sum(words.values()) == pytest.approx(len(ids))          # every piece's score lands in one word


@pytest.mark.parametrize("mode", [1, 3, 5])
def test_explanations_are_words_of_the_article_strongest_first(mode, tiny_runs):
    clf = Classifier.load(tiny_runs(mode))
    [words] = clf.explain([ARTICLE], k=4)
    text = ARTICLE["title"] + " " + ARTICLE["body"]
    assert 1 <= len(words) <= 4 and all(w.word in text for w in words)
    weights = [w.weight for w in words]
    assert weights == sorted(weights, reverse=True) and min(weights) > 0
    assert clf.explain([ARTICLE], k=4) == [words]                   # deterministic


def test_predict_writes_an_explanation_column(tiny_run, slices, tmp_path):
    out = tmp_path / "p.csv"
    assert main(["predict", str(tiny_run), str(slices / "test.csv"), "-o", str(out), "--quiet", "--explain", "2"]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["explanation"].str.match(r"^[^;]+ \([-\d.e]+\)(; [^;]+ \([-\d.e]+\))?$").all()


def test_bad_explain_requests(tiny_run):
    clf = Classifier.load(tiny_run)
    with pytest.raises(KornewsError, match=r"explain takes 1 to 50 words, got 0"):
        clf.explain([ARTICLE], k=0)
    with pytest.raises(KornewsError, match="--explain runs in one process"):
        from kornews.commands.predict import predict_file
        predict_file(tiny_run, [ARTICLE], "-", ray="local", explain=2)
