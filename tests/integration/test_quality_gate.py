"""The quality gate: the suites are what the code says, a clean build passes, and
each kind of corruption (a mart, a landed file, the disclosure protection) is
refused with a summary that names the expectation and the federation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.swedish import SUPPRESSED
from expectations.gate import GateFailed, run_gate
from expectations.suites import SUITES_DIR, export
from ingest.lake import SCHEMAS
from publication.stage import stage_candidate
from warehouse.dbt import inject_fault, run_dbt


def test_committed_suites_are_what_the_code_builds(tmp_path):
    written = {p.name: p.read_text(encoding="utf-8") for p in export(tmp_path)}
    committed = {p.name: p.read_text(encoding="utf-8") for p in SUITES_DIR.glob("*.json")}
    assert written == committed, "run `python -m expectations.suites` and commit the JSON"


def test_the_small_build_passed_the_gate_with_warnings_that_did_not_block(published_home):
    gate = json.loads((published_home.quality_docs / "gate.json").read_text())
    assert gate["passed"] and not gate["failures"]
    assert gate["expectations"] >= 50
    # The small profile has federations whose questionnaires halved: warned, still published.
    assert any(w["suite"] == "check_volume_change" for w in gate["warnings"])
    # GX's Data Docs are built only when something blocks (or on request): not on a good night.
    assert not (published_home.quality_docs / "index.html").exists()
    page = (published_home.quality_docs / "gate.html").read_text()  # the gate's own page, always
    assert "Passed:" in page and "Data Docs were not built" in page
    assert (published_home.publish / "marts.duckdb").exists()


def test_a_corrupted_mart_is_refused_and_named(published_home):
    inject_fault(published_home, "share_out_of_range")
    with duckdb.connect(str(published_home.warehouse), read_only=True) as con:
        federation = con.execute("select federation_code from marts.indicator_results "
                                 "where positive_share > 1").fetchone()[0]
    with pytest.raises(GateFailed) as failed:
        run_gate(published_home, stage_candidate(published_home))
    message = str(failed.value)
    assert "FAILED: nothing published" in message
    assert "[mart_indicator_results] expect_column_values_to_be_between(positive_share)" in message
    assert f"federations: {federation}" in message
    gate = json.loads((published_home.quality_docs / "gate.json").read_text())
    assert not gate["passed"]
    assert [f["federations"] for f in gate["failures"]] == [[federation]]
    # The Data Docs say so too, for the operator.
    validations = list((published_home.quality_docs / "validations" / "mart_indicator_results").rglob("*.html"))
    assert validations and "positive_share" in validations[0].read_text(encoding="utf-8")


def test_a_landed_file_that_breaks_the_contract_is_refused(published_home):
    """Defence in depth: an answer of 7 written into the lake behind ingest's back."""
    folder = published_home.raw / "survey" / ("f" * 64)
    folder.mkdir()
    respondents = SCHEMAS["survey"]["respondents"]
    pq.write_table(pa.Table.from_pylist([{
        "submission_id": "f" * 64, "federation_code": "SF07", "period": "2025/26", "respondent_group": "deltagare",
        "serial": "1", "source_row": 2, "answered_on": __import__("datetime").date(2025, 12, 1), "gender": "K",
        "age_group": None, "insats": None}], schema=respondents), folder / "respondents.parquet")
    pq.write_table(pa.Table.from_pylist([{
        "submission_id": "f" * 64, "respondent_group": "deltagare", "serial": "1", "question_code": "D01",
        "answer_value": 7}], schema=SCHEMAS["survey"]["answers"]), folder / "answers.parquet")
    # The gate reads the lake through dbt's staging views; in this copy of the home they must point here.
    run_dbt(published_home, "run", "--select", "staging")
    result = run_gate(published_home, stage_candidate(published_home), raise_on_failure=False)
    assert not result.passed
    [failure] = [f for f in result.failures if f.suite == "landed_survey_answers"]
    assert failure.expectation == "expect_column_values_to_be_between(answer_value)"
    assert failure.federations == ["SF07"] and failure.unexpected == 1


def test_a_recoverable_or_small_published_cell_is_refused(published_home):
    """If protection ever regressed, the disclosure suites would stop the publication."""
    candidate = stage_candidate(published_home)
    with duckdb.connect(str(candidate.path(published_home))) as con:  # reveal one suppressed cell with its true count
        con.execute(f"""update indicator_results set status = 'ok', n = 2
                        where rowid = (select min(rowid) from indicator_results
                                       where status = '{SUPPRESSED}' and federation_code <> 'RIKET')""")
    result = run_gate(published_home, candidate, raise_on_failure=False)
    suites = {f.suite for f in result.failures}
    assert {"disclosure_visible_counts", "disclosure_recoverable_cells"} <= suites


def test_nns_build_with_a_seeded_fault_publishes_nothing(published_home):
    """The real path, as `make demo` with NNS_SEEDED_FAULT: dbt, the gate, and no publication."""
    published = published_home.publish / "marts.duckdb"
    before = published.read_bytes()
    env = {**os.environ, "NNS_HOME": str(published_home.home), "NNS_SEEDED_FAULT": "national_total_off"}
    nns = Path(sys.executable).with_name("nns")
    result = subprocess.run([str(nns), "build"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[check_national_totals] expect_column_pair_values_to_be_equal(national_n, federations_n)" in result.stderr
    assert published.read_bytes() == before
