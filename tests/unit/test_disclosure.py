"""Disclosure control: primary, secondary and derived-value suppression, and a
property-based attack that tries to recover every hidden small count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from publication.disclosure import Equation, LinkedSystem, Margin, apply, protect, protect_cells
from publication.secondary import loss_weights

THRESHOLD = 5
KEYS = ["federation_code", "gender"]
MARGINS = [Margin("gender", "T", hidden_remainder=True), Margin("federation_code", "RIKET")]


def table(counts: list[tuple[int, int, int]]) -> pd.DataFrame:
    """Rows for each federation and RIKET: K, M and T (T includes the unpublished 'annat')."""
    rows = []
    for i, (k, m, a) in enumerate(counts):
        for gender, n in (("K", k), ("M", m), ("T", k + m + a)):
            rows.append({"federation_code": f"SF{i:02d}", "gender": gender, "n": n})
    totals = np.array(counts).sum(axis=0)
    for gender, n in (("K", totals[0]), ("M", totals[1]), ("T", totals.sum())):
        rows.append({"federation_code": "RIKET", "gender": gender, "n": int(n)})
    return pd.DataFrame(rows)


def recoverable(df: pd.DataFrame, hidden: np.ndarray) -> list[int]:
    """An attacker who knows every published count and the margin equations.

    Unknowns: the hidden counts plus each federation's (and the nation's) unpublished
    'annat'. A hidden count is recovered if every solution of the equations agrees
    on it: its coordinate is zero across the null space.
    """
    n = df["n"].to_numpy()
    feds = sorted(set(df.federation_code) - {"RIKET"}) + ["RIKET"]
    index = {(f, g): i for i, (f, g) in enumerate(zip(df.federation_code, df.gender, strict=True))}
    unknowns = [i for i in range(len(df)) if hidden[i]] + [("A", f) for f in feds]
    col = {u: j for j, u in enumerate(unknowns)}
    rows, rhs = [], []

    def equation(plus, minus):
        coefficients = np.zeros(len(unknowns))
        known = 0.0
        for term, sign in [(t, 1) for t in plus] + [(t, -1) for t in minus]:
            if term in col:
                coefficients[col[term]] += sign
            else:
                known -= sign * n[term]
        rows.append(coefficients)
        rhs.append(known)

    for f in feds:  # K + M + A = T
        equation([index[(f, "K")], index[(f, "M")], ("A", f)], [index[(f, "T")]])
    for g in ("K", "M", "T"):  # federations add up to RIKET
        equation([index[(f, g)] for f in feds[:-1]], [index[("RIKET", g)]])
    equation([("A", f) for f in feds[:-1]], [("A", "RIKET")])
    matrix = np.array(rows)
    _, singular, vt = np.linalg.svd(matrix)
    rank = int((singular > 1e-9).sum())
    null_space = vt[rank:]
    annat = {f: n[index[(f, "T")]] - n[index[(f, "K")]] - n[index[(f, "M")]] for f in feds}
    value = {**{i: n[i] for i in range(len(df))}, **{("A", f): a for f, a in annat.items()}}
    return [u for u in unknowns if 1 <= value[u] < THRESHOLD
            and np.allclose(null_space[:, col[u]], 0, atol=1e-9)]


count_triples = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 3)),
                         min_size=1, max_size=7)


@hyp_settings(max_examples=300, deadline=None)
@given(count_triples)
def test_no_small_count_is_shown_or_recoverable(counts):
    df = table(counts)
    hidden = protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=THRESHOLD)
    n = df["n"].to_numpy()
    assert not ((n >= 1) & (n < THRESHOLD) & ~hidden).any(), "a small count is visible"
    assert recoverable(df, hidden) == []


def test_primary_secondary_and_derived_values():
    # SF00 has 3 women (primary); its men must go too, or K = T - M when 'annat' is 0.
    df = table([(3, 20, 0), (12, 15, 0), (9, 30, 1)])
    df["positive_share"] = 0.5
    hidden = protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=THRESHOLD)
    published = apply(df, hidden, nulled=["n", "positive_share"])
    by_cell = published.set_index(KEYS)
    assert by_cell.loc[("SF00", "K"), "status"] == ".."
    assert pd.isna(by_cell.loc[("SF00", "K"), "n"]) and pd.isna(by_cell.loc[("SF00", "K"), "positive_share"])
    # Along the federation margin for women, SF00 is not the only hidden cell (another federation, or RIKET).
    assert (published[published.gender == "K"].status == "..").sum() >= 2
    assert by_cell.loc[("RIKET", "T"), "status"] == "ok"


def test_secondary_cells_are_chosen_by_minimum_loss():
    """SF00's 3 women and the single "annat" of SF02 and of RIKET: three more cells protect them all
    (SF00 M, SF02 K, RIKET M); hiding the smallest cell of each violated equation in turn takes four."""
    df = table([(3, 20, 0), (12, 15, 0), (9, 30, 1)])
    system = LinkedSystem()
    system.add_margins(df, KEYS, MARGINS, system.add_table(df["n"]), df["n"].to_numpy(dtype=float))
    minimum = system.protect(THRESHOLD)[: len(df)]
    greedy = system.protect(THRESHOLD, minimum_loss=False)[: len(df)]
    primary = (df["n"] >= 1) & (df["n"] < THRESHOLD)
    assert (minimum & ~primary).sum() == 3
    assert (greedy & ~primary).sum() == 4
    assert recoverable(df, minimum) == [] and recoverable(df, greedy) == []


def test_the_loss_of_a_cell_is_its_share_of_the_table_then_its_count():
    weights = loss_weights(np.array([10, 30, 60]))
    assert weights.sum() == pytest.approx(1 + 1 / 3)  # three cells, and all their people
    assert weights[0] < weights[1] < weights[2] < 2 * weights[0]  # a count never outweighs a cell
    assert loss_weights(np.array([5, 5]))[0] > weights[2]  # a cell of a smaller table weighs more


def test_nothing_hidden_when_every_count_is_large():
    df = table([(10, 12, 0), (30, 25, 6)])
    assert not protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=THRESHOLD).any()


def test_a_small_annat_is_protected_like_a_cell():
    """'annat' = T − K − M is never published, but 2 people would be exactly T − K − M."""
    df = table([(10, 12, 0), (30, 25, 2), (40, 41, 9)])
    hidden = protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=THRESHOLD)
    assert hidden.any()
    assert recoverable(df, hidden) == []
    assert recoverable(df, np.zeros(len(df), dtype=bool)) == [("A", "SF01")]


def test_zero_is_not_a_small_count():
    df = table([(0, 40, 0), (20, 25, 0)])
    hidden = protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=THRESHOLD)
    assert not hidden.any()


def test_threshold_is_configurable():
    df = table([(7, 40, 0), (20, 25, 0)])
    assert not protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=5).any()
    assert protect(df, count="n", keys=KEYS, margins=MARGINS, threshold=10).any()


def test_the_attacker_breaks_primary_suppression_alone():
    """Guards the property test: without secondary suppression the attack succeeds."""
    df = table([(3, 20, 0), (12, 15, 0), (9, 30, 0)])
    n = df["n"].to_numpy()
    primary_only = (n >= 1) & (n < THRESHOLD)
    assert recoverable(df, primary_only) != []


def test_a_hidden_total_does_not_stand_in_for_parts_that_could_protect_each_other():
    """T = K + M + 2 "annat": hiding T would be the cheapest cell here, but T can be narrowed through its
    other margins, and "annat" with it; so K or M is hidden. Where K, M and "annat" are all small, T is."""
    equation = [Equation(total=0, parts=(1, 2), remainder=3)]
    cheap_total = np.array([0.001, 1.0, 1.0, 0.0])
    hidden = protect_cells(np.array([24.0, 10.0, 12.0, 2.0]), equation, THRESHOLD, unpublished=[3],
                           weights=cheap_total)
    assert not hidden[0] and hidden[1:3].sum() == 1
    hidden = protect_cells(np.array([3.0, 1.0, 1.0, 1.0]), equation, THRESHOLD, unpublished=[3],
                           weights=cheap_total)
    assert hidden.all()
