"""Half-up rounding of the values publication computes: the one Python home of the rule.

docs/analysts.md, "Rounding": ties round up (every published value is ≥ 0), computed in
whole units so that a tie such as 7/160 = 0.04375 → 0.0438 is never lost to binary
floating point. The marts' SQL twin is the dbt macro `round_ratio`
(dbt_project/macros/rounding.sql); tests/unit/test_rounding.py keeps the two equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from publication.spec import SHARE_DECIMALS

SCALE = 10 ** SHARE_DECIMALS


def half_up(numerator, denominator):
    """numerator / denominator rounded half up to a whole number, exactly (non-negative integers,
    or arrays of them)."""
    return (2 * numerator + denominator) // (2 * denominator)


def share_half_up(part: pd.Series, whole: pd.Series) -> pd.Series:
    """part / whole as a published share; null where whole is 0; at most 1 (a perturbed part can
    exceed its perturbed whole)."""
    whole = whole.astype("int64")
    part = np.minimum(part.astype("int64"), whole)
    return (half_up(SCALE * part, whole.where(whole > 0, 1)) / SCALE).where(whole > 0)


def mean_half_up(shares: pd.Series) -> float:
    """The mean of published shares, as a published share (null shares left out)."""
    shares = shares.dropna()  # a shown cell with n = 0 has no share
    if shares.empty:
        return np.nan
    units = (shares * SCALE).round().astype("int64")
    return half_up(int(units.sum()), len(units)) / SCALE
