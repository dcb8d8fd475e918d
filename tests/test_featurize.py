"""inputs: the table of modes, the saved input specification, and the one featurizer train and predict share."""
import numpy as np
import pandas as pd
import pytest

from kornews import Classifier, clusters, train as train_mod
from kornews.config import ClustersConfig, Columns
from kornews.errors import KornewsError
from kornews.evaluate import load_for
from kornews.inputs import MODES, InputSpec, mode_inputs

from conftest import SHARED
from test_train import tiny_cfg

ARTICLES = pd.DataFrame({"title": ["제목1", "", "제목3"], "body": ["본문1", "본문2", ""], "cluster": [0, 2, 1]})


def test_mode_inputs():
    assert mode_inputs(ARTICLES, 1) == {"text": ["본문1", "본문2", ""], "text_pair": None, "cluster": None}
    assert mode_inputs(ARTICLES, 2)["text"] == ["제목1", "", "제목3"]
    three = mode_inputs(ARTICLES, 3)
    # a missing side makes a single text, never a pair with an empty side
    assert three == {"text": ["제목1", "본문2", "제목3"], "text_pair": ["본문1", None, None], "cluster": None}
    for mode in (4, 5):
        assert mode_inputs(ARTICLES, mode) == {**three, "cluster": [0, 2, 1]}


def test_mode_table():
    assert [m.fields for m in MODES.values()] == [("body",), ("title",)] + [("title", "body")] * 3
    assert [m.clusters for m in MODES.values()] == [False] * 3 + [True] * 2
    assert [m.wrapper for m in MODES.values()] == [None] * 3 + ["token", "embedding"]


def test_spec_round_trips_and_reads_old_runs():
    spec = InputSpec(mode=5, max_len=128, long_strategy="chunks", columns=Columns(body="text"),
                     clusters=ClustersConfig(k=8, embedder="use", position="all"))
    assert InputSpec.from_dict(spec.to_dict()) == spec
    # the `kornews` block as runs wrote it before the spec existed (train.inference_settings)
    old = {"mode": 3, "max_len": 48, "long_strategy": "head", "columns": None}
    assert InputSpec.from_dict(old) == InputSpec(mode=3, max_len=48, long_strategy="head")
    # a plain Hugging Face classifier: the training defaults, cut to the model's positions
    plain = InputSpec.from_dict(None, max_positions=128)
    assert (plain.mode, plain.max_len, plain.long_strategy) == (3, 128, "head+tail")
    with pytest.raises(KornewsError, match="mode 4 needs cluster settings"):
        InputSpec(mode=4)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")
@pytest.mark.parametrize("mode", [1, 2, 3, 4, 5])
def test_train_and_predict_give_identical_features(mode, tiny_runs, slices, tiny_backbone):
    run = tiny_runs(mode)
    cfg = tiny_cfg(slices, tiny_backbone, mode=mode, epochs=1, clusters={"k": 3})
    saved = clusters.Clusterer.load(run / "clusterer") if mode in (4, 5) else None
    trained = train_mod.prepare(cfg, clusterer=saved).test  # what training scored the test split on
    clf = Classifier.load(run)
    assert clf.spec == InputSpec.from_config(cfg)
    f = clf.featurizer
    predicted = f(f.with_clusters(load_for(clf.spec, str(slices / "test.csv"), labeled=False)))
    assert predicted["input_ids"] == trained["input_ids"] and predicted["token_type_ids"] == trained["token_type_ids"]
    np.testing.assert_array_equal(predicted["doc"], trained["doc"])
    if mode == 5:
        np.testing.assert_array_equal(predicted["cluster"], trained["cluster"])
    if mode == 4:  # the cluster reaches the model as a token right after the prefix
        first = [ids[len(f.template.prefix)] for ids in predicted["input_ids"]]
        assert set(first) <= set(f.cluster_token_ids)
