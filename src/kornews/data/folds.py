"""How labelled articles are split: the stratified validation split that chooses epochs."""
import numpy as np
import pandas as pd

from kornews.core.errors import KornewsError


def check_val_fraction(val_fraction) -> float:
    """The one bound of a validation share: some articles in validation (early stopping needs them), some in
    training."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise KornewsError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    return float(val_fraction)


def stratified_split(df: pd.DataFrame, val_fraction=0.1, seed=42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, val): each label's rows shuffled with `seed`, round(n * val_fraction) of them to val.

    A label keeps at least one row in train (so one-example labels stay in train). Rows keep their order.
    """
    check_val_fraction(val_fraction)
    if "label" not in df:
        raise KornewsError("stratified_split needs a 'label' column (load the data with labeled=True)")
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(df), dtype=bool)
    for _, positions in sorted(df.groupby("label").indices.items()):
        k = min(len(positions) - 1, int(len(positions) * val_fraction + 0.5))
        is_val[rng.permutation(positions)[:k]] = True
    return df[~is_val].reset_index(drop=True), df[is_val].reset_index(drop=True)


def validation_split(cfg, df):
    """(train, validation) of a run's labelled articles: the one place a run's validation split is drawn (training,
    calibration, the hybrid's fusion), from `split_seed`, else `seed`."""
    return stratified_split(df, cfg.val_fraction, cfg.seed if cfg.split_seed is None else cfg.split_seed)
