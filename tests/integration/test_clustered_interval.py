"""The interval of a pooled indicator is Wilson with a design effect over respondents.

Checked against statsmodels, the reference implementation named in docs/analysts.md
("The interval: Wilson with a design effect"), on the small build's warehouse: the
cluster-robust variance (OLS on a constant, cov_type='cluster', no small-sample
factor, groups = respondents) gives the design effect, and proportion_confint's
Wilson at the effective number of answers must equal the mart's ci_low and ci_high.
A single-question cell must equal plain Wilson.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

Z = 1.96
ALPHA = 2 * norm.sf(Z)  # proportion_confint takes alpha; the docs state z = 1.96 exactly


def reference_interval(answers: list[tuple[str, bool]]) -> tuple[float, float]:
    respondents = sorted({r for r, _ in answers})
    groups = np.array([respondents.index(r) for r, _ in answers])
    y = np.array([1.0 if positive else 0.0 for _, positive in answers])
    total, share = len(y), y.mean()
    if groups.max() + 1 == total:  # one answer per respondent: plain Wilson
        effective = float(total)
    elif share in (0.0, 1.0):
        effective = float(len(respondents))
    else:
        fit = sm.OLS(y, np.ones(total)).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
        deff = max(1.0, fit.bse[0] ** 2 / (share * (1 - share) / total))
        effective = total / deff
    low, high = proportion_confint(share * effective, effective, alpha=ALPHA, method="wilson")
    return round(low, 4) + 0.0, round(high, 4) + 0.0


@pytest.fixture(scope="module")
def warehouse(small_build):
    with duckdb.connect(str(small_build / "warehouse.duckdb"), read_only=True) as con:
        yield con


def cells(con, model: str, where: str, limit: int = 40) -> list[tuple]:
    return con.execute(f"""
        select period, federation_code, respondent_group, indicator_id, ci_low, ci_high, valid_answers, n
        from marts.{model}
        where gender = 'T' and federation_code <> 'RIKET' and n >= 5 and {where}
        order by hash(period || federation_code || respondent_group || indicator_id) limit {limit}""").fetchall()


def answers(con, period, federation, group, indicator, extra="") -> list[tuple[str, bool]]:
    return con.execute(f"""
        select respondent_id, is_positive from intermediate.int_survey__responses
        where is_valid_answer and period = ? and federation_code = ? and respondent_group = ?
          and indicator_id = ? {extra}""", [period, federation, group, indicator]).fetchall()


def test_pooled_indicators_match_statsmodels(warehouse):
    pooled = cells(warehouse, "indicator_results", "valid_answers > n")
    assert len(pooled) >= 10, "the small build has too few pooled cells to check"
    wider = 0
    for period, federation, group, indicator, low, high, valid, _n in pooled:
        rows = answers(warehouse, period, federation, group, indicator)
        assert len(rows) == valid
        expected = reference_interval(rows)
        assert (low, high) == pytest.approx(expected, abs=1e-4 + 1e-12), (period, federation, group, indicator)
        naive = proportion_confint(sum(p for _, p in rows), len(rows), alpha=ALPHA, method="wilson")
        wider += (high - low) > (naive[1] - naive[0]) + 1e-4
    assert wider, "no pooled cell got a wider interval than naive Wilson: the design effect is not applied"


def test_single_question_cells_are_plain_wilson(warehouse):
    single = warehouse.execute("""
        select positive_share, valid_answers, ci_low, ci_high from marts.indicator_trends
        where gender = 'T' and valid_answers > 0 order by hash(period || federation_code || question_code)
        limit 200""").fetchall()
    assert single
    for share, valid, low, high in single:
        positive = round(share * valid)
        expected = proportion_confint(positive, valid, alpha=ALPHA, method="wilson")
        assert (low, high) == pytest.approx((round(expected[0], 4), round(expected[1], 4)), abs=1e-4 + 1e-12)
