"""folds: the stratified validation split and its one bound."""
import pandas as pd
import pytest
from helpers import err

from kornews.core.errors import KornewsError
from kornews.data.folds import stratified_split
from kornews.training import config


def test_stratified_split_is_seeded_stratified_and_keeps_singletons():
    df = pd.DataFrame({"label": ["a"] * 20 + ["b"] * 10 + ["c"], "row": range(1, 32)})
    train, val = stratified_split(df, val_fraction=0.2, seed=1)
    assert val.label.value_counts().to_dict() == {"a": 4, "b": 2}
    assert "c" in set(train.label) and len(train) + len(val) == 31
    assert set(train.row).isdisjoint(val.row)
    assert train.row.is_monotonic_increasing                       # input order kept
    again = stratified_split(df, val_fraction=0.2, seed=1)
    assert again[1].row.tolist() == val.row.tolist()
    assert stratified_split(df, val_fraction=0.2, seed=2)[1].row.tolist() != val.row.tolist()


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True])
def test_val_fraction_bound_is_the_same_in_config_and_split(fraction):
    df = pd.DataFrame({"label": ["a", "b"] * 4})
    with pytest.raises(KornewsError, match=err(f"val_fraction must be in (0, 1), got {fraction!r}")):
        stratified_split(df, val_fraction=fraction)
    if not isinstance(fraction, bool):  # a bool is refused by the config's type check first
        with pytest.raises(KornewsError, match=err(f"config: val_fraction must be in (0, 1), got {float(fraction)!r}")):
            config.load(base={"val_fraction": fraction})


def test_bad_split_without_labels():
    with pytest.raises(KornewsError, match=err(
            "stratified_split needs a 'label' column (load the data with labeled=True)")):
        stratified_split(pd.DataFrame({"category": ["a", "b"]}))
