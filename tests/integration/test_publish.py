"""The published analyst database: protected, aggregated, audited, swapped in atomically."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from expectations.gate import GateFailed, run_gate
from expectations.verdict import passed_candidate
from operations.build_log import read_build_status
from operations.steps import build_warehouse, publish_marts, quality_gate, stage_publication
from publication import protect
from publication.attack import AttackReport
from publication.audit import audit
from publication.candidate import PublicationRefused, read_staged
from publication.checksum import published_checksum
from publication.promote import promote
from publication.reader import PublishedDatabase
from publication.spec import PUBLISHED
from publication.stage import stage_candidate
from tests.readers import ReaderLoop

NNS = str(Path(sys.executable).with_name("nns"))
KOLADA_COLUMNS = ["period", "federation_code", "federation_name", "respondent_group", "indicator_id", "gender",
                  "n", "mean_score", "positive_share", "ci_low", "ci_high", "national_positive_share", "status"]


def columns(path, table):
    with duckdb.connect(str(path), read_only=True) as con:
        return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def test_tables_analysts_expect(published_home):
    path = published_home.published_database
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert tables >= {"indicator_results", "indicator_trends", "collection_status", "collection_summary",
                      "federations", "indicators", "questions", "publication"}
    assert set(KOLADA_COLUMNS) <= set(columns(path, "indicator_results"))


def test_every_table_in_the_file_has_a_spec(published_home):
    """publication.spec describes the file whole: the writer writes no table it does not know."""
    db = PublishedDatabase(published_home.published_database)
    try:
        assert db.unknown == [] and {t.name for t in db.tables} == set(db.columns)
    finally:
        db.close()


def test_only_aggregates_are_published(published_home):
    path = published_home.published_database
    person_level = {"serial", "respondent_id", "submission_id", "answered_on", "answer_value", "source_row"}
    for table in PUBLISHED:
        assert not person_level & set(columns(path, table.name)), table.name


@pytest.fixture
def suppressed_home(published_home, monkeypatch):
    """The small build published again under the other method, NNS_DISCLOSURE_METHOD=suppression."""
    from core.settings import get_settings

    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "suppression")
    settings = get_settings()
    stage_gate_publish(settings)
    return settings


def test_the_real_publication_passes_the_audit_and_has_withheld_cells(published_home):
    path = published_home.published_database
    assert audit(path, published_home.disclosure_threshold) == []
    with duckdb.connect(str(path), read_only=True) as con:
        hidden, small_visible = con.execute(
            "select count(*) filter (where status = '..'), count(*) filter (where status = 'ok' and n between 1 and 4) "
            "from indicator_results").fetchone()
        assert hidden > 0 and small_visible == 0
        assert con.execute("select count(*) from indicator_results where status = '..' and positive_share is not null"
                           ).fetchone()[0] == 0


@pytest.mark.parametrize("corruption, expected", [
    ("update indicator_results set status = 'ok' where rowid in "
     "(select rowid from indicator_results where status = '..' limit 1); "
     "update indicator_results set n = 3 where rowid in (select rowid from indicator_results where n is null "
     "and status = 'ok' limit 1)", "count between 1 and 4"),
    ("update indicator_results set positive_share = 0.5 where rowid in "
     "(select rowid from indicator_results where status = '..' limit 1)", "still show a value"),
])
def test_the_audit_catches_a_broken_publication(published_home, corruption, expected):
    path = published_home.published_database
    with duckdb.connect(str(path)) as con:
        con.execute(corruption)
    problems = audit(path, published_home.disclosure_threshold)
    assert any(expected in p for p in problems), problems


def test_the_audit_catches_a_recoverable_cell(suppressed_home):
    """Reveal one of the two hidden federations in a margin: the other becomes recoverable."""
    path = suppressed_home.published_database
    with duckdb.connect(str(path)) as con:
        row = con.execute("""
            with margins as (
                select period, respondent_group, indicator_id, gender
                from indicator_results
                group by all
                having count(*) filter (where federation_code = 'RIKET' and status = 'ok') = 1
                   and count(*) filter (where federation_code <> 'RIKET' and status = '..') = 2)
            select period, respondent_group, indicator_id, gender, min(federation_code)
            from indicator_results join margins using (period, respondent_group, indicator_id, gender)
            where status = '..' and federation_code <> 'RIKET'
            group by all
            limit 1""").fetchone()
        assert row, "the small profile has a margin with exactly two hidden federations"
        con.execute("update indicator_results set status = 'ok', n = 40 where period = ? and respondent_group = ? "
                    "and indicator_id = ? and gender = ? and federation_code = ?", row)
    assert any("margin" in p for p in audit(path, suppressed_home.disclosure_threshold))


def test_no_small_result_is_recoverable_from_a_trend(suppressed_home):
    """The merged federation's 2019/20 trend minus its shown predecessors must not give a small count."""
    with duckdb.connect(str(suppressed_home.published_database), read_only=True) as con:
        recovered = con.execute("""
            with single as (
                select period, respondent_group, indicator_id from indicator_trends
                group by all having count(distinct comparability_key) = 1),
            predecessors as (
                select r.period, r.respondent_group, r.indicator_id, r.gender, f.reporting_federation_code,
                       count(*) filter (where r.status = '..') as hidden, sum(r.n) as shown_n
                from indicator_results r join federations f using (federation_code)
                where f.reporting_federation_code <> f.federation_code
                group by all)
            select count(*) from indicator_trends t
            join single using (period, respondent_group, indicator_id)
            join predecessors p on p.period = t.period and p.respondent_group = t.respondent_group
             and p.indicator_id = t.indicator_id and p.gender = t.gender
             and p.reporting_federation_code = t.federation_code
            where t.status = 'ok' and p.hidden = 1 and t.n - coalesce(p.shown_n, 0) between 1 and 4
        """).fetchone()[0]
    assert recovered == 0


def stage_gate_publish(settings):
    """The DAG's three tasks, in order: stage the candidate, the gate judges it, publish promotes it."""
    run_gate(settings, stage_candidate(settings))
    return promote(settings, passed_candidate(settings))


def test_a_failed_gate_publishes_nothing(suppressed_home, monkeypatch):
    published_home = suppressed_home
    target = published_home.published_database
    before = target.read_bytes()

    def primary_only(frames, _reporting, threshold, forced, _minimum_loss=True):
        counts = {t.name: frames[t.name][t.count].fillna(0).to_numpy() for t in PUBLISHED if t.name in forced}
        return {name: (n >= 1) & (n < threshold) for name, n in counts.items()}

    monkeypatch.setattr(protect, "_protect_all", primary_only)
    # The protector no longer asks the attacker either; the gate's own audit still does.
    monkeypatch.setattr(protect, "attack_tables", lambda *_, **__: AttackReport([], {}, {}, 0, 0))
    candidate = stage_candidate(published_home)
    result = run_gate(published_home, candidate, raise_on_failure=False)
    assert not result.passed and passed_candidate(published_home) is None
    assert {"disclosure_recoverable_cells", "disclosure_attack"} <= {f.suite for f in result.failures}
    with pytest.raises(PublicationRefused, match="No candidate has passed the quality gate"):
        promote(published_home, passed_candidate(published_home))
    assert target.read_bytes() == before, "the previous publication stays as it was"
    live_quality = published_home.quality_docs.resolve().name  # the gate's page, swapped in by the gate
    # The judged candidate waits, never read, until the next stage forgets it.
    assert [p.name for p in published_home.publish.iterdir()
            if p.name.startswith(".") and p.name not in (live_quality, candidate.name)] == []


def test_publish_promotes_exactly_the_gated_file_and_never_a_rebuilt_warehouse(published_home):
    """Stage → gate → promote through the step functions the DAG runs, each under its own lock."""
    settings = published_home
    target = settings.published_database
    before = published_checksum(target)
    staged = stage_publication(settings)
    gate = quality_gate(settings)
    candidate = settings.publish / gate.publication["candidate"]
    assert candidate.name == staged.name and published_checksum(candidate) == gate.publication["checksum"]
    assert read_build_status(settings)["steps"]["quality_gate"]["checksum"] == gate.publication["checksum"]
    # A build slips in between the DAG's gate task and its publish task: refused.
    build_warehouse(settings)
    with pytest.raises(PublicationRefused, match="rebuilt since the quality gate"):
        publish_marts(settings)
    assert published_checksum(target) == before
    # A candidate changed after the gate: refused.
    stage_publication(settings)
    quality_gate(settings)
    with duckdb.connect(str(settings.publish / read_staged(settings).name)) as con:
        con.execute("update indicator_results set n = n + 1 where status = 'ok' and federation_code = 'RIKET'")
    with pytest.raises(PublicationRefused, match="has changed since the quality gate"):
        publish_marts(settings)
    # A candidate changed between staging and the gate: the gate judged another file, so refused.
    stage_publication(settings)
    with duckdb.connect(str(settings.publish / read_staged(settings).name)) as con:
        con.execute("update indicator_results set n = n + 1 where status = 'ok' and federation_code = 'RIKET'")
    with contextlib.suppress(GateFailed):  # whether or not its audits notice, it judged another file
        quality_gate(settings)
    with pytest.raises(PublicationRefused, match="No candidate has passed the quality gate"):
        publish_marts(settings)
    # Staged, gated and untouched: promoted by rename, the same file the gate checked.
    stage_publication(settings)
    gate = quality_gate(settings)
    inode = (settings.publish / gate.publication["candidate"]).stat().st_ino
    assert publish_marts(settings) == target
    assert target.stat().st_ino == inode, "renamed, not written again"
    assert published_checksum(target) == gate.publication["checksum"] == before
    assert read_build_status(settings)["steps"]["publish"]["checksum"] == gate.publication["checksum"]
    with pytest.raises(PublicationRefused, match="No candidate"):
        publish_marts(settings)  # one gate, one promotion


def test_the_cli_refuses_to_publish_a_warehouse_rebuilt_after_the_gate(published_home):
    """`nns build`'s steps as separate processes: gate, then a rebuild, then publish is refused."""
    env = {**os.environ, "NNS_HOME": str(published_home.home)}
    target = published_home.published_database
    before = published_checksum(target)

    def step(name):
        return subprocess.run([sys.executable, "-c", f"from operations.steps import {name}; "
                               f"from core.settings import get_settings; {name}(get_settings())"],
                              env=env, capture_output=True, text=True, timeout=600)

    assert step("stage_publication").returncode == 0
    assert step("quality_gate").returncode == 0
    assert step("build_warehouse").returncode == 0
    refused = step("publish_marts")
    assert refused.returncode != 0 and "rebuilt since the quality gate" in refused.stderr
    assert published_checksum(target) == before
    status = subprocess.run([NNS, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert '"failed"' in status.stdout
    built = subprocess.run([NNS, "build"], env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert published_checksum(target) == before


def test_national_values_are_respondent_weighted_and_add_up(published_home):
    with duckdb.connect(str(published_home.warehouse), read_only=True) as con:
        mismatches = con.execute("""
            with fed as (
                select period, respondent_group, indicator_id, gender,
                       sum(n) as n, sum(positive_answers) as pos, sum(valid_answers) as valid
                from marts.indicator_results where federation_code <> 'RIKET' group by all)
            select count(*)
            from fed join marts.indicator_results r using (period, respondent_group, indicator_id, gender)
            where r.federation_code = 'RIKET'
              and (r.n <> fed.n or abs(r.positive_share - round(fed.pos / fed.valid, 4)) > 1e-9)""").fetchone()[0]
    assert mismatches == 0


def test_a_reader_never_fails_or_sees_a_mix_during_publication(published_home, monkeypatch):
    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "suppression")  # two thresholds, 5 and 8
    path = published_home.published_database
    from core.settings import get_settings

    builds = {}
    for threshold in (5, 8):
        monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", str(threshold))
        stage_gate_publish(get_settings())
        builds[threshold] = published_checksum(path)
    assert builds[5] != builds[8]
    with ReaderLoop(path) as reader:
        for threshold in (5, 8):
            monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", str(threshold))
            stage_gate_publish(get_settings())
    assert reader.failures == [], reader.failures
    assert set(reader.seen) <= set(builds.values()), "a reader saw a build that was neither the old nor the new"
    assert len(reader.seen) == 2


def test_threshold_is_honoured(published_home, monkeypatch):
    monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", "6")
    from core.settings import get_settings

    with pytest.raises(ValueError, match="at most 5"):  # the Cell Key Method never shows 1 to js = 4
        stage_candidate(get_settings())
    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "suppression")
    monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", "10")
    from core.settings import get_settings

    settings = get_settings()
    stage_gate_publish(settings)
    with duckdb.connect(str(settings.published_database), read_only=True) as con:
        assert con.execute("select count(*) from indicator_results where status = 'ok' and n between 1 and 9"
                           ).fetchone()[0] == 0
    assert audit(settings.published_database, 10) == []
