"""classifier: the Python API over a run — any source in, one probability row per article, in input order."""

import numpy as np
import pandas as pd
import pytest
import torch

from kornews import Classifier
from kornews.core import runtime
from kornews.core.errors import KornewsError


def test_classifier_accepts_run_columns_and_raw_frames(tiny_run, slices):
    clf = Classifier.load(tiny_run)
    raw = pd.read_csv(slices / "test.csv", dtype=str).head(4)
    as_dicts = [{"title": t, "body": b} for t, b in zip(raw.title, raw.cleanBody)]
    expected = clf.predict_proba(as_dicts)
    np.testing.assert_allclose(clf.predict_proba(raw), expected, atol=1e-6)
    by_run_columns = [{"title": t, "cleanBody": b} for t, b in zip(raw.title, raw.cleanBody)]
    np.testing.assert_allclose(clf.predict_proba(by_run_columns), expected, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba([{"headline": t} for t in raw.title]),
                               clf.predict_proba(list(raw.title)), atol=1e-6)  # an alias; a missing body is empty
    with pytest.raises(KornewsError, match="article 0: no title or body"):
        clf.predict([{"foo": "x"}])


def test_order_is_kept_with_mixed_lengths(tiny_runs, slices):
    df = pd.read_csv(slices / "test.csv", dtype=str)
    # lengths from a few tokens to well past max_len, shuffled so sorting by length must be undone
    batch = [{"title": t[: 3 + i % 20], "body": b[: (i * 37) % 300]} for i, (t, b) in
                enumerate(zip(df.title, df.cleanBody))]
    clf = Classifier.load(tiny_runs(3), engine="torch-fp32", batch_size=4)
    together = clf.predict_proba(batch)
    alone = np.concatenate([clf.predict_proba([a]) for a in batch])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_threads_share_the_cores(tiny_runs):
    assert runtime.threads_for(1) == runtime.cores()
    assert runtime.threads_for(runtime.cores() * 4) == 1
    before = torch.get_num_threads()
    try:
        Classifier.load(tiny_runs(3), threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
