"""End to end on the small profile, through the real DAGs with dag.test().

Each DAG run is a subprocess (`nns run`), as an operator would start it, with its
own embedded Airflow metadata database under the test's data home.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from core import ledger
from synthetic import generate
from tests.conftest import environment
from tests.smtp_sink import SmtpSink

NNS = str(Path(sys.executable).with_name("nns"))
INSIDE_WINDOW = "2023-10-15T03:30"  # 2022/23's autumn window, Stockholm time
OUTSIDE_WINDOW = "2023-07-01T03:30"


def nns(settings, *args, **extra_env) -> subprocess.CompletedProcess:
    env = {**os.environ, "NNS_HOME": str(settings.home), **extra_env}
    return subprocess.run([NNS, *args], env=env, capture_output=True, text=True, timeout=600)


def task_states(settings, dag_id: str) -> list[tuple]:
    with sqlite3.connect(settings.home / "airflow" / "airflow.db") as db:
        return db.execute(
            "select task_id, map_index, rendered_map_index, state from task_instance where dag_id = ? "
            "order by task_id, map_index", (dag_id,)).fetchall()


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """Generate the small profile plus one broken file, then collect and build."""
    from core.settings import get_settings

    home = tmp_path_factory.mktemp("e2e")
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="e2e-test-key"):
        settings = get_settings()
        summary = generate("small", settings.inbox, settings, registers=True)
        summary["personnummer"] = personnummer_in_extracts(settings.inbox / "register")
        (settings.inbox / "SF07_2022-23_trasig.xlsx").write_bytes(b"PK\x03\x04 truncated")
        with SmtpSink() as sink:  # failure alerts are e-mailed here
            smtp = {"NNS_SMTP_HOST": "127.0.0.1", "NNS_SMTP_PORT": str(sink.port), "NNS_SMTP_TO": "drift@example.org"}
            collect = nns(settings, "run", "nns_collect", "--run-after", INSIDE_WINDOW, **smtp)
            registers = nns(settings, "run", "nns_registers", **smtp)
            summary["registers_run"] = registers
            build = nns(settings, "run", "nns_build", **smtp)
            summary["alerts"] = sink.messages
        yield settings, summary, collect, build


def personnummer_in_extracts(folder: Path) -> set[str]:
    """Every personnummer in the generated extracts, in every form it could be written."""
    from ingest.personnummer import format_number, normalise

    with duckdb.connect() as con:
        written = {r[0] for r in con.execute(
            f"select personnummer from read_csv('{folder}/sus_*.csv', delim=';', all_varchar=true) "
            f"where personnummer is not null union select personnummer from '{folder}/inkomster_*.parquet'"
        ).fetchall()}
    forms = set()
    for raw in written:
        canonical = normalise(raw)
        forms |= {format_number(canonical, f) for f in ("12-", "12", "10-", "10+", "10")}
    assert len(forms) > 1000
    return forms


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
        assert db.execute("select count(*) from asset_event e join asset a on a.id = e.asset_id "
                          "where a.uri = 'nns://lake/survey'").fetchone()[0] == 1
    assert list(settings.inbox.glob("*.xlsx")) == [] and list(settings.inbox.glob("*.csv")) == []
    records = [r for r in ledger.all_records(settings) if r.source == "survey"]
    assert len(records) == len(ingest)
    assert len(list(settings.archive.iterdir())) == len(ingest), "every original archived"


def test_each_failed_task_e_mailed_one_alert(pipeline_run):
    """The failure callback fires on real task failures inside Airflow, and only on those."""
    settings, summary, collect, build = pipeline_run
    failed = [s for s in task_states(settings, "nns_collect") if s[3] == "failed"]
    alerts = summary["alerts"]
    assert sorted(a.message["Subject"] for a in alerts) == sorted(
        f"[NNS] nns_collect.ingest [{label}] failed" for _, _, label, _ in failed)
    broken = next(a.message.get_content() for a in alerts if "trasig" in a.message["Subject"])
    assert "REJECTED SF07_2022-23_trasig.xlsx" in broken and "FILE_UNREADABLE" in broken
    assert f"nns ingest {settings.home}/inbox/" in broken
    assert all(a.recipients == ["drift@example.org"] for a in alerts)


def test_the_metadata_database_has_one_warehouse_slot(pipeline_run):
    settings, *_ = pipeline_run
    with sqlite3.connect(settings.home / "airflow" / "airflow.db") as db:
        assert db.execute("select slots from slot_pool where pool = 'nns_warehouse'").fetchone() == (1,)


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
        rejected_ids = [r.submission_id for r in ledger.all_records(settings) if r.status == "rejected"]
        leaked = con.execute("select count(*) from intermediate.int_survey__responses where submission_id in "
                             "(select unnest($ids))", {"ids": rejected_ids}).fetchone()[0]
        assert leaked == 0, "nothing of a rejected file reaches the marts"


def test_outside_a_window_nothing_is_collected(pipeline_run):
    settings, *_ = pipeline_run
    late = settings.inbox / "SF01_2022-23_sen.xlsx"
    late.write_bytes(b"not yet")
    before = len(ledger.all_records(settings))
    result = nns(settings, "run", "nns_collect", "--run-after", OUTSIDE_WINDOW)
    assert result.returncode == 0, result.stderr[-3000:]
    assert late.exists() and len(ledger.all_records(settings)) == before
    # Forcing a federation collects outside the window.
    result = nns(settings, "run", "nns_collect", "--run-after", OUTSIDE_WINDOW, "--conf", '{"federation": "SF01"}')
    assert not late.exists() and len(ledger.all_records(settings)) == before + 1


DIGIT_RUNS = re.compile(rb"\d{6,8}[-+]?\d{4}")


def test_registers_landed_and_indicator11_was_published(pipeline_run):
    settings, summary, _, build = pipeline_run
    run = summary["registers_run"]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert list((settings.inbox / "register").iterdir()) == [], "loaded extracts leave the inbox"
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from indicator11_outcomes where status = 'ok' "
                           "and federation_code <> 'RIKET'").fetchone()[0] > 0
    html = next((settings.publish / "report").glob("nationell-rapport-*.html")).read_text(encoding="utf-8")
    assert 'id="indikator-11"' in html and "Kön spelar roll" in html


def find_personnummer(home: Path, skip: Path, forms: set[str]) -> list[str]:
    """Every place under `home` (outside `skip`) where one of `forms` is stored."""
    found = []
    with duckdb.connect() as con:
        con.execute("create table forms (value varchar)")
        con.executemany("insert into forms values (?)", [(f,) for f in forms])
        for path in sorted(home.rglob("*")):
            if not path.is_file() or skip in path.parents:
                continue
            if path.suffix == ".parquet":
                columns = [c for c, t in con.execute(f"select column_name, column_type from (describe "
                                                     f"select * from '{path}')").fetchall() if t == "VARCHAR"]
                for c in columns:
                    if con.execute(f'select count(*) from \'{path}\' where "{c}" in (select value from forms)'
                                   ).fetchone()[0]:
                        found.append(f"{path}:{c}")
            elif path.suffix == ".duckdb":
                con.execute(f"attach '{path}' as db (read_only)")
                for schema, table, column in con.execute(
                        "select schema_name, table_name, column_name from duckdb_columns() "
                        "where database_name = 'db' and data_type = 'VARCHAR'").fetchall():
                    if con.execute(f'select count(*) from db."{schema}"."{table}" where "{column}" in '
                                   f"(select value from forms)").fetchone()[0]:
                        found.append(f"{path}:{schema}.{table}.{column}")
                con.execute("detach db")
            else:
                for match in DIGIT_RUNS.findall(path.read_bytes()):
                    if match.decode() in forms:
                        found.append(str(path))
    return found


def test_no_personnummer_anywhere_outside_the_inbox(pipeline_run):
    """Lake, archive, quarantine, ledger, both DuckDB files, reports, Airflow's logs and metadata DB."""
    settings, summary, *_ = pipeline_run
    assert find_personnummer(settings.home, settings.inbox, summary["personnummer"]) == []


def test_the_search_finds_a_planted_number(tmp_path):
    number = "19850314-1235"
    (tmp_path / "log.txt").write_text(f"task output mentioning {number} by mistake")
    with duckdb.connect(str(tmp_path / "leak.duckdb")) as con:
        con.execute(f"create table t as select '{number[2:]}' as v")
        con.execute(f"copy t to '{tmp_path / 'leak.parquet'}' (format parquet, compression zstd)")
    found = find_personnummer(tmp_path, tmp_path / "inbox", {number, number[2:]})
    assert len(found) == 3, found


def test_benchmark_floor_computes_the_same_marts(pipeline_run, tmp_path):
    """bench/floor.sql, the benchmark's hand-written floor, must keep matching the dbt marts."""
    from bench import floor

    settings, *_ = pipeline_run
    floor.run_floor(settings, tmp_path / "floor.duckdb")
    rows = floor.check_equal(settings, tmp_path / "floor.duckdb")
    assert set(rows) == set(floor.TABLES) and all(n > 0 for n in rows.values())


def test_benchmark_reads_the_stages_from_airflow_and_runs_the_analyst_queries(pipeline_run):
    from bench.measure import stage_breakdown
    from bench.run import analyst_queries

    settings, *_ = pipeline_run
    runs = {}
    for run in stage_breakdown(settings.home / "airflow" / "airflow.db"):  # in run order
        runs.setdefault(run["dag_id"], run)  # the fixture's runs, not later tests' ones
    assert {"nns_collect", "nns_registers", "nns_build"} <= set(runs)
    ingest = next(t for t in runs["nns_collect"]["tasks"] if t["task_id"] == "ingest")
    assert ingest["instances"] > 10 and ingest["sum_s"] > 0
    assert {"dbt_build", "publish", "reports"} <= {t["task_id"] for t in runs["nns_build"]["tasks"]}
    timed = analyst_queries(settings, repeats=2)
    assert len(timed["queries"]) == 5 and all(q["rows"] > 0 for q in timed["queries"].values())
