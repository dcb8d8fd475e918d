"""featurize: the saved input specification and the one featurizer training and prediction share."""
import numpy as np
import pytest
from conftest import SHARED
from helpers import err

from kornews import Classifier
from kornews.core.errors import KornewsError
from kornews.data.datasets import Columns
from kornews.model import embedding
from kornews.model.featurize import ClustersConfig, InputSpec
from kornews.training import setup


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


def test_max_len_above_the_model_limit_is_the_same_error_at_load():
    """Training refuses it (tests/training/test_loop.py); a saved spec that asks for it is refused the same way."""
    with pytest.raises(KornewsError, match=err("max_len 600 exceeds the limit of 512 positions of the model")):
        InputSpec.from_dict({"mode": 3, "max_len": 600}, max_positions=512)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")
@pytest.mark.parametrize("mode", [1, 2, 3, 4, 5])
def test_train_and_predict_give_identical_features(mode, tiny_runs, slices, tiny_cfg):
    run = tiny_runs(mode)
    cfg = tiny_cfg(mode=mode, epochs=1, clusters={"k": 3})
    saved = embedding.Clusterer.load(run / "clusterer") if mode in (4, 5) else None
    trained = setup.prepare(cfg, clusterer=saved).test  # what training scored the test split on
    clf = Classifier.load(run)
    assert clf.spec == InputSpec.from_config(cfg)
    f = clf.featurizer
    predicted = f(f.with_clusters(clf.read(str(slices / "test.csv")).frame))
    assert predicted.input_ids == trained.input_ids and predicted.token_type_ids == trained.token_type_ids
    np.testing.assert_array_equal(predicted.doc, trained.doc)
    if mode == 5:
        np.testing.assert_array_equal(predicted.cluster, trained.cluster)
    if mode == 4:  # the cluster reaches the model as a token right after the prefix
        first = [ids[len(f.template.prefix)] for ids in predicted.input_ids]
        assert set(first) <= set(f.cluster_token_ids)
