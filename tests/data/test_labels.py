"""labels: the label map fixed from training labels, saved as id2label."""
import json

import pytest
from helpers import err

from kornews.core.errors import KornewsError
from kornews.data.labels import LabelMap


def test_label_map_fit_encode_decode_roundtrip():
    labels = LabelMap.fit(["sport", "it", "sport", "economy"])
    assert labels.labels == ["economy", "it", "sport"]
    assert labels.label2id == {"economy": 0, "it": 1, "sport": 2} and labels.id2label[2] == "sport"
    assert labels.encode(["it", "sport"]) == [1, 2]
    assert labels.decode([2, 0]) == ["sport", "economy"]
    assert LabelMap.from_dict(json.loads(json.dumps(labels.to_dict()))) == labels
    # a Hugging Face config's id2label (keys turned to str by JSON) gives the same order
    assert LabelMap.from_dict({"id2label": {"1": "b", "0": "a"}}).labels == ["a", "b"]


def test_label_map_explicit_order():
    assert LabelMap(["정치", "경제"]).encode(["경제"]) == [1]


def test_bad_unknown_labels_at_evaluation():
    labels = LabelMap.fit(["culture", "economy", "it"])
    with pytest.raises(KornewsError, match=err(
            "test.csv: labels never seen in training: 'weather' (3 rows, first row 17), 'travel' (1 row, row 18); "
            "known: culture, economy, it")):
        labels.encode(["it", "weather", "travel", "weather", "weather"], source="test.csv",
                      rows=[16, 17, 18, 19, 20])


def test_bad_label_map_inputs():
    with pytest.raises(KornewsError, match=err("label id 3 out of range: the label map has 2 labels")):
        LabelMap(["a", "b"]).decode([0, 3])
    with pytest.raises(KornewsError, match=err("label order repeats 'a'")):
        LabelMap(["a", "b", "a"])
    with pytest.raises(KornewsError, match=err("a label map needs at least one label")):
        LabelMap.fit([])
    with pytest.raises(KornewsError, match=err("id2label ids must be 0..1, got [0, 2]")):
        LabelMap.from_dict({"id2label": {"0": "a", "2": "b"}})
