"""The DataFrames the suites validate, one per suite and of the same name.

GX cannot read DuckDB through SQLAlchemy here, so each frame is a query run on a
read-only DuckDB connection to the warehouse (which can also read the lake's
Parquet) or to the candidate publication, handed to GX as pandas. Frames that
check one figure against another put both side by side, so the expectation is a
plain column comparison that an operator can read in the Data Docs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from core.catalogue import NATION, load_catalogue, parse_period, period_bounds
from core.settings import Settings
from core.swedish import SUPPRESSED
from publication.attack import InconsistentPublication, attack_file, read_answers, write_answers
from publication.audit import audit_findings
from publication.spec import COUNT_COLUMNS, PUBLISHED

log = logging.getLogger(__name__)

LANDED_VIEWS = {"collection": "collection_counts"}  # table -> staging entity, where the names differ


@dataclass(frozen=True)
class Frame:
    query: Callable[[Sources], pd.DataFrame]
    # Columns that name a failing row in the summary and the Data Docs (federation first).
    id_columns: tuple[str, ...]


@dataclass
class Sources:
    warehouse: duckdb.DuckDBPyConnection  # read-only
    candidate: Path  # the protected database that would be published
    settings: Settings
    # The attacker's audit takes the last gate's answer for each unchanged component (publication.attack);
    # False: every component solved (a full build, the closing night).
    reuse_audit: bool = False

    @staticmethod
    def lake(source: str, table: str) -> str:
        """Landed rows as they are in the lake, through dbt's staging view of the source (which
        renames nothing and holds the one definition of where the lake's files are), without the
        submissions an operator has set aside (`nns quarantine`, status 'set_aside' in the ledger's
        staging): those are out of the build until released."""
        return (f"(select * from staging.stg_{source}__{LANDED_VIEWS.get(table, table)} where submission_id not in "
                "(select submission_id from staging.stg_ledger__submissions where is_set_aside))")

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        return self.warehouse.execute(query, params or []).df()


def landed_survey_respondents(s: Sources) -> pd.DataFrame:
    periods = [p for (p,) in s.warehouse.execute(
        f"select distinct period from {s.lake('survey', 'respondents')} where period is not null").fetchall()]
    bounds = pd.DataFrame([(p, *period_bounds(p)) for p in periods if parse_period(p)],
                          columns=["period", "period_start", "period_end"])
    s.warehouse.register("period_bounds", bounds)  # the rule is core.catalogue's, not a SQL copy
    return s.sql(f"""
        select r.*, cast(b.period_start as date) as period_start, cast(b.period_end as date) as period_end
        from {s.lake('survey', 'respondents')} r left join period_bounds b using (period)""")


def landed_survey_answers(s: Sources) -> pd.DataFrame:
    return s.sql(f"""
        select a.*, r.federation_code, r.period
        from {s.lake('survey', 'answers')} a
        left join {s.lake('survey', 'respondents')} r using (submission_id, respondent_group, serial)""")


def landed_survey_collection(s: Sources) -> pd.DataFrame:
    return s.sql(f"select * from {s.lake('survey', 'collection')}")


def landed_register_participants(s: Sources) -> pd.DataFrame:
    return s.sql(f"select * exclude (person_key), person_key from {s.lake('register', 'participants')}")


def landed_register_income(s: Sources) -> pd.DataFrame:
    # Tens of millions of rows: summarised per extract in DuckDB, then validated.
    categories = list(load_catalogue(s.settings.catalogue_dir).support_categories)
    return s.sql(f"""
        select i.submission_id, l.file_name,
               count(*) as income_rows,
               count(*) filter (where i.person_key is null) as rows_without_person_key,
               count(*) filter (where not list_contains(?, i.category)) as rows_with_unknown_category,
               min(i.month) as first_month, max(i.month) as last_month,
               cast(strptime(l.first_month, '%Y-%m') as date) as coverage_first_month,
               cast(strptime(l.extract_month, '%Y-%m') as date) as coverage_last_month
        from {s.lake('register', 'income')} i
        left join staging.stg_ledger__submissions l using (submission_id)
        group by all""", [categories])


def mart(name: str) -> Callable[[Sources], pd.DataFrame]:
    def query(s: Sources) -> pd.DataFrame:
        return s.sql(f"select * from marts.{name}")
    return query


def check_respondents_reconcile(s: Sources) -> pd.DataFrame:
    return s.sql(f"""
        with current_rows as (
            select submission_id, federation_code, period, respondent_group, file_name
            from intermediate.int_survey__current_submissions
            where part = 'rows'
        ),
        landed as (
            select c.period, c.federation_code, c.respondent_group, c.file_name,
                   count(r.serial) as landed_rows
            from current_rows c
            left join {s.lake('survey', 'respondents')} r using (submission_id, respondent_group)
            group by all
        )
        select landed.*, coalesce(m.rows_received, 0) as mart_rows
        from landed
        left join marts.collection_status m using (period, federation_code, respondent_group)""")


def check_federation_coverage(s: Sources) -> pd.DataFrame:
    return s.sql("""
        select distinct c.period, c.federation_code,
               exists (select 1 from marts.indicator_results r
                       where r.period = c.period and r.federation_code = c.federation_code) as in_results
        from intermediate.int_survey__current_submissions c
        where c.part = 'rows'""")


def check_national_totals(s: Sources) -> pd.DataFrame:
    return s.sql(f"""
        select period, respondent_group, indicator_id, gender,
               sum(n) filter (where federation_code = '{NATION}') as national_n,
               sum(n) filter (where federation_code <> '{NATION}') as federations_n,
               sum(valid_answers) filter (where federation_code = '{NATION}') as national_valid_answers,
               sum(valid_answers) filter (where federation_code <> '{NATION}') as federations_valid_answers
        from marts.indicator_results
        group by all""")


def check_volume_change(s: Sources) -> pd.DataFrame:
    # The latest period only: a drop in an old period is history, not news.
    return s.sql(f"""
        with volume as (
            select period, federation_code, respondent_group, rows_received
            from marts.collection_status
            where federation_code <> '{NATION}'
        ),
        latest as (select max(period) as period from volume)
        select cur.period, cur.federation_code, cur.respondent_group,
               cur.rows_received, prev.rows_received as previous_rows,
               round(cur.rows_received / prev.rows_received, 3) as ratio_to_previous
        from volume cur
        join latest using (period)
        join volume prev
          on prev.federation_code = cur.federation_code
         and prev.respondent_group = cur.respondent_group
         and cast(left(prev.period, 4) as integer) = cast(left(cur.period, 4) as integer) - 1
        where prev.rows_received > 0""")


def check_indicator11_cohort(s: Sources) -> pd.DataFrame:
    return s.sql(f"""
        with cohorts as (
            select cohort_year, coalesce(federation_code, '{NATION}') as federation_code,
                   count(*) as cohort
            from intermediate.int_register__participants
            where cohort_year is not null
            group by grouping sets ((cohort_year, federation_code), (cohort_year))
        )
        select o.cohort_year, o.federation_code, o.followup_months, o.n_observed,
               coalesce(c.cohort, 0) as cohort
        from marts.indicator11_outcomes o
        left join cohorts c using (cohort_year, federation_code)
        where o.gender = 'T' and o.insats = 'alla' and o.support_at_start = 'alla'""")


def disclosure_visible_counts(s: Sources) -> pd.DataFrame:
    parts = []
    with duckdb.connect(str(s.candidate), read_only=True) as con:
        for table in PUBLISHED:
            if not table.protected:
                continue
            federation = "federation_code" if "federation_code" in table.columns else "null"
            for column in [c for c in table.nulled if c in COUNT_COLUMNS]:
                parts.append(con.execute(f"""
                    select '{table.name}' as "table", {federation} as federation_code,
                           '{column}' as "column", cast({column} as bigint) as value
                    from {table.name}
                    where status <> '{SUPPRESSED}' and {column} is not null""").df())
    return pd.concat(parts, ignore_index=True)


def disclosure_recoverable_cells(s: Sources) -> pd.DataFrame:
    return pd.DataFrame(audit_findings(s.candidate, s.settings.disclosure_threshold))


def disclosure_attack(s: Sources) -> pd.DataFrame:
    """Per table: the hidden counts and remainders the attacker bounded, its findings, and its seconds."""
    columns = ["table", "unknowns", "findings", "seconds", "reused", "example"]
    proofs = s.settings.audit_proofs
    try:
        report = attack_file(s.candidate, s.settings.disclosure_threshold, s.settings.warehouse,
                             known=read_answers(proofs) if s.reuse_audit else {})
    except InconsistentPublication as exc:  # a documented relation does not hold: never publish that
        return pd.DataFrame([{"table": str(exc).split(":")[0], "unknowns": 0, "findings": 1, "seconds": 0.0,
                              "reused": 0, "example": str(exc)[:300]}], columns=columns)
    write_answers(proofs, report.answers)
    log.info("The attacker's audit: %d unknowns, %d answered by the last gate's unchanged components%s; %d LPs",
             sum(report.checked.values()), sum(report.reused.values()),
             "" if s.reuse_audit else " (a full audit: none reused)", report.lps)
    tables = sorted(set(report.checked) | {f.table for f in report.findings})
    rows = []
    for table in tables:
        found = [f for f in report.findings if f.table == table]
        rows.append({"table": table, "unknowns": report.checked.get(table, 0), "findings": len(found),
                     "seconds": report.seconds.get(table, 0.0), "reused": report.reused.get(table, 0),
                     "example": f"{found[0].label} in [{found[0].low:g}, {found[0].high:g}]" if found else None})
    return pd.DataFrame(rows, columns=columns)


FRAMES: dict[str, Frame] = {
    "landed_survey_respondents": Frame(landed_survey_respondents, ("federation_code", "period", "submission_id")),
    "landed_survey_answers": Frame(landed_survey_answers, ("federation_code", "period", "submission_id")),
    "landed_survey_collection": Frame(landed_survey_collection, ("federation_code", "period", "submission_id")),
    "landed_register_participants": Frame(landed_register_participants,
                                          ("federation_code", "submission_id", "source_row")),
    "landed_register_income": Frame(landed_register_income, ("file_name", "submission_id")),
    "mart_indicator_results": Frame(mart("indicator_results"),
                                    ("federation_code", "period", "respondent_group", "indicator_id", "gender")),
    "mart_indicator_trends": Frame(mart("indicator_trends"),
                                   ("federation_code", "period", "respondent_group", "question_code", "gender")),
    "mart_indicator11_outcomes": Frame(mart("indicator11_outcomes"),
                                       ("federation_code", "cohort_year", "followup_months", "gender", "insats")),
    "check_respondents_reconcile": Frame(check_respondents_reconcile,
                                         ("federation_code", "period", "respondent_group", "file_name")),
    "check_federation_coverage": Frame(check_federation_coverage, ("federation_code", "period")),
    "check_national_totals": Frame(check_national_totals, ("period", "respondent_group", "indicator_id", "gender")),
    "check_volume_change": Frame(check_volume_change, ("federation_code", "period", "respondent_group")),
    "check_indicator11_cohort": Frame(check_indicator11_cohort, ("federation_code", "cohort_year", "followup_months")),
    "disclosure_visible_counts": Frame(disclosure_visible_counts, ("federation_code", "table", "column")),
    "disclosure_recoverable_cells": Frame(disclosure_recoverable_cells, ("table", "check")),
    "disclosure_attack": Frame(disclosure_attack, ("table", "example")),
}
