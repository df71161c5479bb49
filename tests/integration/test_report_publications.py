"""`nns report` works on any valid publication: surveys only, registers only, or both.

Each case starts from a copy of the small build's publication (`published_home`)
and empties the tables of the other source, as a publication built from one
kind of input holds them. A section without data is left out with one Swedish
sentence that says so, and the exit code is 0.
"""

from __future__ import annotations

import duckdb
import pytest

from operations.cli import main
from report.build import NO_REGISTERS, NO_SURVEYS

SURVEY_TABLES = ["indicator_results", "indicator_trends", "collection_status", "collection_summary",
                 "collection_freshness"]
REGISTER_TABLES = ["indicator11_outcomes", "gender_analysis", "support_transitions"]


def _empty(settings, tables: list[str]) -> None:
    with duckdb.connect(str(settings.publish / "marts.duckdb")) as con:
        for table in tables:
            con.execute(f"delete from {table}")


@pytest.mark.parametrize("keep", ["both", "surveys", "registers"])
def test_report_on_each_kind_of_publication(published_home, keep, capsys):
    settings = published_home
    if keep == "surveys":
        _empty(settings, REGISTER_TABLES)
    elif keep == "registers":
        _empty(settings, SURVEY_TABLES)
    assert main(["report", "--html-only"]) == 0
    out = settings.publish / "report"
    national = list(out.glob("nationell-rapport-*.html"))
    assert len(national) == 1, national
    html = national[0].read_text(encoding="utf-8")
    popular = next(out.glob("kortversion-*.html")).read_text(encoding="utf-8")
    federations = list((out / "forbund").glob("*.html")) if (out / "forbund").exists() else []
    if keep in ("both", "surveys"):
        assert NO_SURVEYS not in html and 'id="insamlingen"' in html and federations
    if keep in ("both", "registers"):
        assert NO_REGISTERS not in html and 'id="indikator-11"' in html and "antal" in html
    if keep == "surveys":
        assert html.count(NO_REGISTERS) == 1 and 'id="indikator-11"' not in html
        assert NO_REGISTERS in federations[0].read_text(encoding="utf-8")
    if keep == "registers":
        assert html.count(NO_SURVEYS) == 1 and 'id="insamlingen"' not in html
        assert NO_SURVEYS in popular
