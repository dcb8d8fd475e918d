"""modes: how each mode reads an article's fields, and the one check of a mode number."""
import pandas as pd
import pytest
from helpers import err

from kornews.core.errors import KornewsError
from kornews.data.modes import headline_only, mode, mode_inputs

ARTICLES = pd.DataFrame({"title": ["제목1", "", "제목3"], "body": ["본문1", "본문2", ""], "cluster": [0, 2, 1]})


def test_mode_inputs():
    assert mode_inputs(ARTICLES, 1) == {"text": ["본문1", "본문2", ""], "text_pair": None, "cluster": None}
    assert mode_inputs(ARTICLES, 2)["text"] == ["제목1", "", "제목3"]
    three = mode_inputs(ARTICLES, 3)
    # a missing side makes a single text, never a pair with an empty side
    assert three == {"text": ["제목1", "본문2", "제목3"], "text_pair": ["본문1", None, None], "cluster": None}
    for number in (4, 5):
        assert mode_inputs(ARTICLES, number) == {**three, "cluster": [0, 2, 1]}


def test_bad_mode4_without_cluster_column():
    with pytest.raises(KornewsError, match=err("mode 4 needs a cluster column; it is filled by the run's clusterer")):
        mode_inputs(ARTICLES.drop(columns="cluster"), 4)


@pytest.mark.parametrize("number", [0, 6, "3", True, None])
def test_bad_invalid_mode_is_one_message_everywhere(number):
    from kornews.training import config
    message = (f"invalid mode {number!r}: choose 1 (body), 2 (title), 3 (title+body pair), "
               "4 or 5 (title+body pair with the run's clusters)")
    for check in (lambda: mode(number), lambda: mode_inputs(ARTICLES, number)):
        with pytest.raises(KornewsError, match=err(message)):
            check()
    if isinstance(number, int) and not isinstance(number, bool):  # the config's type check refuses the others first
        with pytest.raises(KornewsError, match=err(f"config: {message}")):
            config.load(base={"mode": number})


def test_headline_only_marks_titles_without_body_in_pair_modes():
    df = pd.DataFrame({"title": ["제목", "제목", ""], "body": ["본문", "", "본문"]})
    assert headline_only(df, 3) == [False, True, False] and headline_only(df, 5) == [False, True, False]
    assert headline_only(df, 2) == [False] * 3 and headline_only(df, 1) == [False] * 3
