"""Half-up rounding has one Python home (publication.rounding) and one SQL twin (the dbt macro round_ratio):
the two agree on every tie and near-tie, and neither loses a tie to binary floating point."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
from jinja2 import Environment

from core.settings import REPO_ROOT
from publication.rounding import half_up, mean_half_up, share_half_up

MACRO = (REPO_ROOT / "dbt_project" / "macros" / "rounding.sql").read_text(encoding="utf-8")


def round_ratio_sql(numerator: str, denominator: str, decimals: int) -> str:
    """The macro as dbt renders it (it uses nothing but Jinja)."""
    return Environment().from_string(MACRO + "{{ round_ratio(n, d, k) }}").render(n=numerator, d=denominator,
                                                                                  k=decimals)


def test_python_and_the_dbt_macro_round_every_ratio_the_same():
    pairs = [(n, d) for d in range(1, 321) for n in range(0, d + 1)]  # every share with a denominator ≤ 320
    frame = pd.DataFrame(pairs, columns=["n", "d"])
    with duckdb.connect() as con:
        con.register("pairs", frame)
        sql = con.execute(f"select {round_ratio_sql('n', 'd', 4)} from pairs").fetchnumpy()
    python = share_half_up(frame.n, frame.d).to_numpy()
    assert (list(sql.values())[0] == python).all()
    assert share_half_up(pd.Series([7]), pd.Series([160])).iat[0] == 0.0438  # 0.04375: a tie, rounded up


def test_half_up_and_the_mean_of_shares():
    assert [half_up(n, 2) for n in (1, 3, 5)] == [1, 2, 3]
    assert mean_half_up(pd.Series([0.1234, 0.1235, None])) == 0.1235  # 0.12345 rounds up; a null is left out
    assert pd.isna(mean_half_up(pd.Series([None], dtype=float)))
    assert share_half_up(pd.Series([12]), pd.Series([10])).iat[0] == 1.0  # a perturbed part is at most its whole
    assert pd.isna(share_half_up(pd.Series([0]), pd.Series([0])).iat[0])


def test_only_one_python_home_of_the_rule():
    product = [p for folder in ("publication", "report", "api", "expectations", "operations")
               for p in (REPO_ROOT / folder).rglob("*.py")]
    homes = [p.relative_to(REPO_ROOT) for p in product if "// (2 *" in p.read_text(encoding="utf-8")]
    assert homes == [Path("publication/rounding.py")], homes
