"""A questionnaire's counts without any rows (answered 3, rows received 0) in collection_status and
collection_summary, under each disclosure method (docs/submission_format.md §4.3, docs/analysts.md)."""

from __future__ import annotations

import duckdb
import pytest

from core.catalogue import load_catalogue
from core.settings import get_settings
from ingest.submission import ingest_submission
from operations.steps import build_warehouse, publish_marts, quality_gate, stage_publication

PERIOD = "2021/22"  # one of the small profile's federations sent nothing this period
SHEETS = {"deltagare": "Deltagare", "personal": "Personal", "styrelse": "Styrelse", "chefsgrupp": "Chefsgrupp",
          "medremittent": "Medremittent"}


@pytest.fixture(params=["ckm", "suppression"])
def method_home(request, published_home, monkeypatch):
    """The small build's data home, to be published again under each disclosure method."""
    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", request.param)
    return get_settings()


def _table(con, name: str) -> str:
    return con.execute("select table_schema || '.' || table_name from information_schema.tables "
                       "where table_name = ?", [name]).fetchone()[0]


def _publish(settings) -> None:
    build_warehouse(settings)
    stage_publication(settings)
    quality_gate(settings)  # the attacker's audit among its checks: nothing small can be worked out
    publish_marts(settings)


def test_counts_without_rows_are_withheld_and_cannot_be_worked_out(method_home):
    settings = method_home
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        status = _table(con, "collection_status")
        present = set(con.execute(f"select federation_code, respondent_group from {status} where period = ?",
                                  [PERIOD]).fetchall())
        profile = {f for (f,) in con.execute(f"select distinct federation_code from {status}").fetchall()}
    active = {f.code for f in load_catalogue(settings.catalogue_dir).federations_in(PERIOD)} & profile
    federation, group = next((f, g) for g in SHEETS for f in sorted(active) if (f, g) not in present)
    assert len({f for f, g in present if g == group and f != "RIKET"}) >= 3, "a margin of several federations"
    path = settings.inbox / f"{federation}_{PERIOD.replace('/', '-')}_Insamling_endast-antal.csv"
    path.write_text(f"Enkät;Antal tillfrågade;Antal besvarade\n{SHEETS[group]};8;3\n", encoding="utf-8")
    assert ingest_submission(path, settings).status == "accepted"
    _publish(settings)

    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        rows = con.execute("select federation_code, asked, answered, rows_received, status from collection_status "
                           "where period = ? and respondent_group = ?", [PERIOD, group]).fetchall()
    mine = next(r for r in rows if r[0] == federation)
    assert mine[1:] == (None, None, None, ".."), "too few behind the row: withheld, every count nulled"
    if settings.disclosure_method == "suppression":
        hidden = [r for r in rows if r[0] != "RIKET" and r[4] == ".."]
        assert len(hidden) >= 2, "a second federation is hidden beside it, so that RIKET does not give it away"
        nation = next(r for r in rows if r[0] == "RIKET")
        shown = sum(r[2] or 0 for r in rows if r[0] != "RIKET" and r[4] == "ok")
        if nation[2] is not None:  # RIKET's answered minus the shown federations' is no small group
            assert not 1 <= nation[2] - shown < settings.disclosure_threshold, (nation, shown)
    # (Under the Cell Key Method RIKET's counts carry noise, so no subtraction is exact; the gate's
    # audit above bounded every withheld count.)


def test_counts_alone_in_a_questionnaire_nobody_sent_rows_for_do_not_block_the_nation(method_home):
    """The first file of a new period: Deltagare rows, and Styrelse counts (8 asked, 3 answered) with the
    Styrelse rows still to come. Valid at the door, so it must build and publish (architecture rule 10)."""
    from ingest.template import write_workbook
    from tests.conftest import sample_content

    settings = method_home
    content = sample_content("SF07", "2023/24")  # a period the small profile has no file for
    del content.respondents["styrelse"]
    content.collection = {"deltagare": (12, 6), "styrelse": (8, 3)}
    path = settings.inbox / "SF07_2023-24.xlsx"
    write_workbook(path, content, load_catalogue(settings.catalogue_dir), with_guidance=False)
    assert ingest_submission(path, settings).status == "accepted"
    # Under suppression collection_summary is protected by its smallest non-zero group (the national
    # questionnaires, or those the federations say answered), as collection_status is: one federation's
    # counts never show as the nation's.
    _publish(settings)
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        summary = con.execute("select questionnaires, answered, status from collection_summary "
                              "where period = '2023/24' and respondent_group = 'styrelse'").fetchall()
    assert summary in ([], [(None, None, "..")]), summary
