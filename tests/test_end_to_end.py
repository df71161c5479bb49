"""End to end on the small profile, through the real DAGs with dag.test().

Each DAG run is a subprocess (`nns run`), as an operator would start it, with its
own embedded Airflow metadata database under the test's data home.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest import lake
from nns.generate import generate

NNS = str(Path(sys.executable).with_name("nns"))
INSIDE_WINDOW = "2023-10-15T03:30"  # 2022/23's autumn window, Stockholm time
OUTSIDE_WINDOW = "2023-07-01T03:30"


def nns(settings, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "NNS_HOME": str(settings.home)}
    return subprocess.run([NNS, *args], env=env, capture_output=True, text=True, timeout=600)


def task_states(settings, dag_id: str) -> list[tuple]:
    with sqlite3.connect(settings.home / "airflow" / "airflow.db") as db:
        return db.execute(
            "select task_id, map_index, rendered_map_index, state from task_instance where dag_id = ? "
            "order by task_id, map_index", (dag_id,)).fetchall()


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """Generate the small profile plus one broken file, then collect and build."""
    from nns.settings import get_settings

    home = tmp_path_factory.mktemp("e2e")
    old = os.environ.get("NNS_HOME")
    os.environ["NNS_HOME"] = str(home)
    try:
        settings = get_settings()
        summary = generate("small", settings.inbox, settings, registers=False)
        (settings.inbox / "SF07_2022-23_trasig.xlsx").write_bytes(b"PK\x03\x04 truncated")
        collect = nns(settings, "run", "nns_collect", "--run-after", INSIDE_WINDOW)
        build = nns(settings, "run", "nns_build")
        yield settings, summary, collect, build
    finally:
        if old is None:
            os.environ.pop("NNS_HOME", None)
        else:
            os.environ["NNS_HOME"] = old


def test_collect_lands_every_good_file_and_fails_only_the_broken_one(pipeline_run):
    settings, summary, collect, _ = pipeline_run
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr[-3000:]
    states = task_states(settings, "nns_collect")
    ingest = [s for s in states if s[0] == "ingest"]
    assert len(ingest) == summary["surveys"]["files"] + 1
    failed = [s for s in ingest if s[3] == "failed"]
    expected_failures = {"SF07_2022-23_trasig.xlsx"}
    assert {s[2] for s in failed} >= expected_failures, "the map index shows the file name"
    assert len(failed) == 1 + summary["surveys"]["rejected_first"]
    assert ("announce", -1, None, "success") in [(s[0], s[1], s[2], s[3]) for s in states]
    with sqlite3.connect(settings.home / "airflow" / "airflow.db") as db:
        assert db.execute("select count(*) from asset_event").fetchone()[0] == 1
    assert list(settings.inbox.glob("*.xlsx")) == [] and list(settings.inbox.glob("*.csv")) == []
    records = lake.ledger_records(settings)
    assert len(records) == len(ingest)
    assert len(list(settings.archive.iterdir())) == len(ingest), "every original archived"


def test_build_makes_a_queryable_mart_with_the_latest_submission_winning(pipeline_run):
    settings, summary, _, build = pipeline_run
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        periods = con.sql("select distinct period from marts.collection_status order by 1").fetchall()
        assert [p[0] for p in periods] == ["2019/20", "2020/21", "2021/22", "2022/23"]
        resubmitted = con.sql("""
            select s.federation_code, s.period, s.respondent_group, s.rows_received, s.answered
            from marts.collection_status s where versions_received > 1 and respondent_group = 'deltagare'
        """).fetchall()
        assert resubmitted, "the small profile has resubmissions"
        for federation, period, group, rows_received, answered in resubmitted:
            # The corrected (later) file carries all rows; the first one had 80 %.
            assert rows_received == answered, (federation, period, group)
        assert (settings.publish / "marts.duckdb").exists(), "nns_build published"
        assert list((settings.publish / "report").glob("nationell-rapport-*.pdf")), "nns_build wrote the reports"
        rejected_ids = [r["submission_id"] for r in lake.ledger_records(settings) if r["status"] == "rejected"]
        leaked = con.execute("select count(*) from intermediate.int_survey__responses where submission_id in "
                             "(select unnest($ids))", {"ids": rejected_ids}).fetchone()[0]
        assert leaked == 0, "nothing of a rejected file reaches the marts"


def test_outside_a_window_nothing_is_collected(pipeline_run):
    settings, *_ = pipeline_run
    late = settings.inbox / "SF01_2022-23_sen.xlsx"
    late.write_bytes(b"not yet")
    before = len(lake.ledger_records(settings))
    result = nns(settings, "run", "nns_collect", "--run-after", OUTSIDE_WINDOW)
    assert result.returncode == 0, result.stderr[-3000:]
    assert late.exists() and len(lake.ledger_records(settings)) == before
    # Forcing a federation collects outside the window.
    result = nns(settings, "run", "nns_collect", "--run-after", OUTSIDE_WINDOW, "--conf", '{"federation": "SF01"}')
    assert not late.exists() and len(lake.ledger_records(settings)) == before + 1
