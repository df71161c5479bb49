"""The published analyst database: protected, aggregated, audited, swapped in atomically."""

from __future__ import annotations

import duckdb
import pytest

from publication import publish as publishing
from publication.audit import audit
from publication.checksum import published_checksum
from publication.publish import PublicationRefused, publish
from publication.specs import PUBLISHED
from tests.readers import ReaderLoop

KOLADA_COLUMNS = ["period", "federation_code", "federation_name", "respondent_group", "indicator_id", "gender",
                  "n", "mean_score", "positive_share", "ci_low", "ci_high", "national_positive_share", "status"]


def columns(path, table):
    with duckdb.connect(str(path), read_only=True) as con:
        return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def test_tables_analysts_expect(published_home):
    path = published_home.publish / "marts.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert tables >= {"indicator_results", "indicator_trends", "collection_status", "collection_summary",
                      "federations", "indicators", "questions", "publication"}
    assert set(KOLADA_COLUMNS) <= set(columns(path, "indicator_results"))


def test_only_aggregates_are_published(published_home):
    path = published_home.publish / "marts.duckdb"
    person_level = {"serial", "respondent_id", "submission_id", "answered_on", "answer_value", "source_row"}
    for table in PUBLISHED:
        assert not person_level & set(columns(path, table.name)), table.name


def test_the_real_publication_passes_the_audit_and_has_suppressed_cells(published_home):
    path = published_home.publish / "marts.duckdb"
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
    path = published_home.publish / "marts.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(corruption)
    problems = audit(path, published_home.disclosure_threshold)
    assert any(expected in p for p in problems), problems


def test_the_audit_catches_a_recoverable_cell(published_home):
    """Reveal one of the two hidden federations in a margin: the other becomes recoverable."""
    path = published_home.publish / "marts.duckdb"
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
    assert any("margin" in p for p in audit(path, published_home.disclosure_threshold))


def test_no_small_result_is_recoverable_from_a_trend(published_home):
    """The merged federation's 2019/20 trend minus its shown predecessors must not give a small count."""
    with duckdb.connect(str(published_home.publish / "marts.duckdb"), read_only=True) as con:
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


def test_a_failed_audit_publishes_nothing(published_home, monkeypatch):
    target = published_home.publish / "marts.duckdb"
    before = target.read_bytes()

    def primary_only(df, *, count, threshold, **_):
        n = df[count].fillna(0).to_numpy()
        return (n >= 1) & (n < threshold)

    def primary_only_cells(counts, _equations, threshold):
        return (counts >= 1) & (counts < threshold)

    monkeypatch.setattr(publishing, "protect", primary_only)
    monkeypatch.setattr(publishing, "protect_cells", primary_only_cells)
    with pytest.raises(PublicationRefused, match="margin"):
        publish(published_home)
    assert target.read_bytes() == before, "the previous publication stays as it was"
    live_quality = published_home.quality_docs.resolve().name  # the gate's page, swapped in by the gate
    assert [p.name for p in published_home.publish.iterdir() if p.name.startswith(".") and p.name != live_quality] == []


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
    path = published_home.publish / "marts.duckdb"
    from core.settings import get_settings

    builds = {}
    for threshold in (5, 8):
        monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", str(threshold))
        publish(get_settings())
        builds[threshold] = published_checksum(path)
    assert builds[5] != builds[8]
    with ReaderLoop(path) as reader:
        for threshold in (5, 8, 5, 8):
            monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", str(threshold))
            publish(get_settings())
    assert reader.failures == [], reader.failures
    assert set(reader.seen) <= set(builds.values()), "a reader saw a build that was neither the old nor the new"
    assert len(reader.seen) == 2


def test_threshold_is_honoured(published_home, monkeypatch):
    monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", "10")
    from core.settings import get_settings

    settings = get_settings()
    publish(settings)
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from indicator_results where status = 'ok' and n between 1 and 9"
                           ).fetchone()[0] == 0
    assert audit(settings.publish / "marts.duckdb", 10) == []
