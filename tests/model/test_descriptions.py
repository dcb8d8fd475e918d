"""The zero-shot classifier: topic descriptions against articles, with no training."""
import numpy as np
import pytest

from kornews.core.errors import KornewsError
from kornews.model import descriptions
from kornews.model.descriptions import ZeroShot


def test_builtin_label_sets_cover_both_datasets():
    assert sorted(descriptions.descriptions("knews8")) == sorted(
        ["culture", "economy", "entertain", "international", "it", "politics", "society", "sport"])
    ynat = descriptions.descriptions("ynat")
    assert sorted(ynat) == sorted(["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"])
    assert ynat["정치"] == descriptions.TOPICS["politics"]  # one description per topic, whatever its name


def test_descriptions_from_a_yaml_file(tmp_path):
    path = tmp_path / "topics.yaml"
    path.write_text("날씨: 날씨 뉴스, 기온, 비, 눈\n증시: 주식 시장, 코스피, 코스닥\n", encoding="utf-8")
    assert descriptions.descriptions(str(path)) == {"날씨": "날씨 뉴스, 기온, 비, 눈", "증시": "주식 시장, 코스피, 코스닥"}


@pytest.mark.parametrize("text, message", [
    (None, r"neither a built-in set \(knews8, ynat\) nor a YAML file"),
    ("a: 하나\n", "need at least two"),
    ("a: 하나\nb: ''\n", "no description .* for b"),
    ("a: 하나\nb: [1, 2]\n", "no description .* for b"),
])
def test_bad_label_sets_are_one_line(tmp_path, text, message):
    path = tmp_path / "topics.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(KornewsError, match=message):
        descriptions.descriptions(str(path))


@pytest.fixture(scope="module")
def tiny_zero_shot(tiny_backbone):
    return ZeroShot("knews8", backbone=str(tiny_backbone)).fit()


def test_probabilities_are_a_distribution_over_the_label_set(tiny_zero_shot):
    probs = tiny_zero_shot.predict_proba(["손흥민이 두 골을 넣었다", "코스피가 2% 올랐다", "국회 본회의"])
    assert probs.shape == (3, 8) and np.allclose(probs.sum(1), 1) and (probs >= 0).all()
    assert set(tiny_zero_shot.predict(["손흥민이 두 골을 넣었다"])) <= set(tiny_zero_shot.labels_)
    assert tiny_zero_shot.label_vectors_.shape[0] == 8
    assert np.allclose(np.linalg.norm(tiny_zero_shot.label_vectors_, axis=1), 1, atol=1e-5)


def test_an_article_scores_the_same_alone_and_in_a_batch(tiny_zero_shot):
    texts = ["짧은 제목", "훨씬 더 긴 기사 본문이 이어지는 문장으로 패딩이 생기게 한다 " * 3, "중간 길이의 기사 제목"]
    batch = tiny_zero_shot.predict_proba(texts)
    alone = np.vstack([tiny_zero_shot.predict_proba([t]) for t in texts])
    assert np.allclose(batch, alone, atol=1e-4)  # padding and length sorting change nothing


def test_unfitted_and_bad_temperature(tiny_backbone):
    with pytest.raises(KornewsError, match="not fitted"):
        ZeroShot().predict_proba(["기사"])
    with pytest.raises(KornewsError, match="temperature must be a positive number"):
        ZeroShot(backbone=str(tiny_backbone), temperature=0).fit()


def test_a_missing_backbone_is_one_line(tmp_path):
    with pytest.raises(KornewsError, match="unknown backbone .*nothing"):
        ZeroShot(backbone=str(tmp_path / "nothing")).fit()


def test_the_pretrained_encoder_sorts_news_well_above_chance(slices):
    """The built-in me5-small, untrained, on 32 knews8 test articles (4 per topic): far above chance (0.125)."""
    from kornews.data import articles
    from kornews.model.embedding import article_text
    df = articles.read(str(slices / "test.csv"), mode=3).frame
    pred = ZeroShot("knews8").fit().predict(article_text(df))
    assert np.mean(np.array(pred) == df["label"].to_numpy()) >= 0.5
