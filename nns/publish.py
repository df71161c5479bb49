"""Publishing the analyst database, publish/marts.duckdb.

Each build writes a new file beside the old one, protects every table through
nns.disclosure, audits the result, and only then renames it over the old file.
A reader always sees the last complete build; a failed audit publishes nothing.
Only aggregated, protected tables are written; person-level data stays in the
warehouse.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from nns.disclosure import SHOWN, SUPPRESSED, Equation, Margin, apply, margin_equations, protect, protect_cells
from nns.faults import checkpoint
from nns.settings import Settings

log = logging.getLogger(__name__)

NATION = "RIKET"
GENDER = Margin("gender", "T", hidden_remainder=True)  # "annat eller vill ej uppge" is never shown alone
FEDERATIONS = Margin("federation_code", NATION)
RESULT_VALUES = ["n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high"]
INSATSER = Margin("insats", "alla")
SUPPORT_AT_START = Margin("support_at_start", "alla")
SUPPORT_AT_END = Margin("support_at_end", "alla")
# Columns that count people (the audit checks none of them shows a small number).
COUNT_COLUMNS = {"n", "valid_answers", "asked", "answered", "rows_received", "questionnaires", "n_observed",
                 "n_self_supporting", "n_sustainable", "participants", "n_work_or_studies"}


@dataclass(frozen=True)
class PublishedTable:
    name: str
    source: str  # relation in the warehouse
    columns: list[str]  # published columns, in order (status is added when protected)
    keys: list[str] = field(default_factory=list)
    count: str | None = None  # the count of people that decides suppression
    margins: list[Margin] = field(default_factory=list)
    nulled: list[str] = field(default_factory=list)  # values hidden with a suppressed cell

    @property
    def protected(self) -> bool:
        return self.count is not None


PUBLISHED = [
    PublishedTable(
        "indicator_results", "marts.indicator_results",
        ["period", "federation_code", "federation_name", "respondent_group", "indicator_id", "gender",
         "n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high",
         "national_positive_share", "national_mean_score", "federations_mean_share"],
        keys=["period", "respondent_group", "indicator_id", "federation_code", "gender"],
        count="n", margins=[GENDER, FEDERATIONS], nulled=RESULT_VALUES,
    ),
    PublishedTable(
        "indicator_trends", "marts.indicator_trends",
        ["period", "federation_code", "federation_name", "respondent_group", "indicator_id",
         "comparability_key", "question_code", "series_first_period", "series_last_period", "gender",
         "n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high"],
        keys=["period", "respondent_group", "indicator_id", "comparability_key", "question_code",
              "federation_code", "gender"],
        count="n", margins=[GENDER, FEDERATIONS], nulled=RESULT_VALUES,
    ),
    PublishedTable(
        "collection_status", "marts.collection_status",
        ["period", "federation_code", "federation_name", "respondent_group", "asked", "answered",
         "rows_received", "response_rate", "last_submission_at", "versions_received"],
        keys=["period", "respondent_group", "federation_code"],
        count="disclosure_n", margins=[FEDERATIONS],
        nulled=["asked", "answered", "rows_received", "response_rate"],
    ),
    PublishedTable(
        "collection_summary", "marts.collection_summary",
        ["period", "respondent_group", "federations", "federations_in_period", "questionnaires",
         "asked", "answered", "response_rate"],
        keys=["period", "respondent_group"], count="questionnaires",
        nulled=["questionnaires", "asked", "answered", "response_rate"],
    ),
    PublishedTable(
        "indicator11_outcomes", "marts.indicator11_outcomes",
        ["cohort_year", "federation_code", "federation_name", "gender", "insats", "support_at_start",
         "followup_months", "n_observed", "n_self_supporting", "share_self_supporting", "n_sustainable",
         "share_sustainable"],
        keys=["cohort_year", "followup_months", "federation_code", "gender", "insats", "support_at_start"],
        count="disclosure_n", margins=[Margin("gender", "T"), FEDERATIONS, INSATSER, SUPPORT_AT_START],
        nulled=["n_observed", "n_self_supporting", "share_self_supporting", "n_sustainable", "share_sustainable"],
    ),
    PublishedTable(
        "gender_analysis", "marts.gender_analysis",
        ["cohort_year", "federation_code", "federation_name", "insats", "gender", "participants",
         "mean_insats_months", "n_work_or_studies", "share_work_or_studies", "mean_years_public_support_before"],
        keys=["cohort_year", "federation_code", "insats", "gender"],
        count="disclosure_n", margins=[Margin("gender", "T"), FEDERATIONS, INSATSER],
        nulled=["participants", "mean_insats_months", "n_work_or_studies", "share_work_or_studies",
                "mean_years_public_support_before"],
    ),
    PublishedTable(
        "support_transitions", "marts.support_transitions",
        ["cohort_year", "gender", "support_at_start", "support_at_end", "participants"],
        keys=["cohort_year", "gender", "support_at_start", "support_at_end"],
        count="participants", margins=[Margin("gender", "T"), SUPPORT_AT_START, SUPPORT_AT_END],
        nulled=["participants"],
    ),
    PublishedTable("collection_freshness", "marts.collection_freshness",
                   ["period", "window_name", "opens_on", "closes_on", "federation_code", "federation_name",
                    "submitted_previous_period", "received_in_window_at", "freshness_status"]),
    PublishedTable("support_categories", "catalogue.support_categories",
                   ["category", "label_sv", "support_class", "tie_priority"]),
    PublishedTable("end_reasons", "catalogue.end_reasons",
                   ["end_reason", "label_sv", "is_work_or_studies", "is_registration_error"]),
    PublishedTable("federations", "marts.dim_federations",
                   ["federation_code", "federation_name", "lan", "valid_from", "valid_to", "successor_code",
                    "predecessor_codes", "reporting_federation_code", "change_note"]),
    PublishedTable("indicators", "marts.dim_indicators",
                   ["indicator_id", "indicator_title", "is_official_text", "measured_by", "valid_from",
                    "valid_to"]),
    PublishedTable("questions", "marts.dim_questions",
                   ["question_code", "respondent_group", "respondent_group_name", "indicator_id",
                    "question_text", "is_official_text", "scale_id", "comparability_key", "valid_from",
                    "valid_to"]),
]


class PublicationRefused(RuntimeError):
    """The new database failed the disclosure audit; the old one stays."""


def _results_extras(df: pd.DataFrame) -> pd.DataFrame:
    """National comparison columns, from the protected national rows only."""
    cell = ["period", "respondent_group", "indicator_id", "gender"]
    national = df[df.federation_code == NATION].set_index(cell)
    df = df.drop(columns=["national_positive_share", "national_mean_score"], errors="ignore")
    df = df.join(national[["positive_share", "mean_score"]].rename(
        columns={"positive_share": "national_positive_share", "mean_score": "national_mean_score"}), on=cell)
    # The unweighted mean of the federations shown, on the national rows.
    shown = df[(df.federation_code != NATION) & (df.status == SHOWN)]
    means = shown.groupby(cell)["positive_share"].mean().round(4).rename("federations_mean_share")
    df = df.join(means, on=cell)
    df.loc[df.federation_code != NATION, "federations_mean_share"] = np.nan
    return df


def shared_cell_equations(results: pd.DataFrame, trends: pd.DataFrame, reporting: dict[str, str],
                          offset: int) -> list[Equation]:
    """Equations tying the two tables together, so neither helps undo the other.

    Where an indicator has one question in a questionnaire, a trend cell counts the
    same people as the result cells of the federations that report as its
    federation: the same cell, or (before a merger) the sum of the predecessors.
    """
    cell = ["period", "respondent_group", "indicator_id"]
    questions = trends.groupby(cell)["comparability_key"].transform("nunique")
    single = trends[questions == 1]
    keyed = results.assign(position=np.arange(len(results)),
                           reporting=results.federation_code.map(lambda f: reporting.get(f, f)))
    parts = keyed.groupby(cell + ["reporting", "gender"])["position"].apply(tuple)
    equations = []
    for position, row in zip(single.index, single[cell + ["federation_code", "gender"]].itertuples(index=False)):
        members = parts.get(tuple(row))
        if members:
            equations.append(Equation(offset + int(position), tuple(int(m) for m in members)))
    return equations


def build_tables(warehouse: Path, threshold: int) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as source:
        frames = {t.name: source.sql(f"select * from {t.source}").df(date_as_object=True)
                  .sort_values(t.keys or t.columns[:1]).reset_index(drop=True) for t in PUBLISHED}
        reporting = dict(source.execute(
            "select federation_code, reporting_federation_code from marts.dim_federations").fetchall())
    spec = {t.name: t for t in PUBLISHED}
    hidden = {}
    # Results and trends share cells, so they are protected as one system.
    results, trends = frames["indicator_results"], frames["indicator_trends"]
    offset = len(results)
    equations = (margin_equations(results, spec["indicator_results"].keys, spec["indicator_results"].margins)
                 + margin_equations(trends, spec["indicator_trends"].keys, spec["indicator_trends"].margins, offset)
                 + shared_cell_equations(results, trends, reporting, offset))
    joint = protect_cells(np.concatenate([results.n.to_numpy(float), trends.n.to_numpy(float)]), equations,
                          threshold)
    hidden["indicator_results"], hidden["indicator_trends"] = joint[:offset], joint[offset:]
    tables = {}
    for table in PUBLISHED:
        df = frames[table.name]
        if table.protected:
            mask = hidden.get(table.name)
            if mask is None:
                mask = protect(df, count=table.count, keys=table.keys, margins=table.margins, threshold=threshold)
            df = apply(df, mask, table.nulled)
        if table.name == "indicator_results":
            df = _results_extras(df)
        tables[table.name] = df[table.columns + (["status"] if table.protected else [])]
    return tables


def _descriptions(settings: Settings) -> dict[str, dict]:
    """Table and column descriptions from dbt's manifest, to store as comments."""
    manifest = settings.home / "dbt_target" / "manifest.json"
    if not manifest.exists():
        return {}
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    return {n["name"]: n for n in nodes.values() if n.get("resource_type") == "model"}


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_database(path: Path, tables: dict[str, pd.DataFrame], settings: Settings, meta: dict) -> None:
    described = _descriptions(settings)
    with duckdb.connect(str(path)) as target:
        for table in PUBLISHED:
            df = tables[table.name]
            target.register("frame", df)
            integer_columns = [c for c in df.columns if c in COUNT_COLUMNS | {
                "versions_received", "federations", "federations_in_period", "indicator_id", "cohort_year",
                "followup_months"}]
            select = ", ".join(f"cast({c} as bigint) as {c}" if c in integer_columns else c for c in df.columns)
            target.execute(f"create table {table.name} as select {select} from frame")
            target.unregister("frame")
            node = described.get(table.source.split(".")[-1], {})
            if node.get("description"):
                target.execute(f"comment on table {table.name} is {_sql_literal(node['description'].strip())}")
            for column, info in node.get("columns", {}).items():
                if column in df.columns and info.get("description"):
                    target.execute(f"comment on column {table.name}.{column} is "
                                   f"{_sql_literal(info['description'].strip())}")
            if "federations_mean_share" in df.columns:
                target.execute(f"comment on column {table.name}.federations_mean_share is 'On national rows: "
                               f"the unweighted mean of the positive shares of the federations shown'")
            if table.protected:
                target.execute(f"comment on column {table.name}.status is "
                               f"'ok, or .. when the cell is suppressed (fewer than {settings.disclosure_threshold} "
                               f"people, or hidden so that such a cell cannot be recovered)'")
        target.execute("create table publication as select * from (values (?, ?, ?, ?)) "
                       "as t(published_at, disclosure_threshold, warehouse_built_at, tables)",
                       [meta["published_at"], meta["threshold"], meta["warehouse_built_at"], meta["tables"]])
        target.execute("checkpoint")


def audit_findings(path: Path, threshold: int) -> list[dict]:
    """Every disclosure check over a published database, with the number of cells that fail it.

    One row per table × check (zero when it passes), so the quality gate can show
    each check and the audit below can name the failures.
    """
    findings = []

    def finding(table: str, check: str, cells: int, description: str) -> None:
        findings.append({"table": table, "check": check, "cells": int(cells or 0), "description": description})

    with duckdb.connect(str(path), read_only=True) as con:
        existing = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        for table in PUBLISHED:
            if not table.protected or table.name not in existing:
                continue
            counts = [c for c in table.nulled if c in COUNT_COLUMNS]
            small = " or ".join(f"({c} between 1 and {threshold - 1})" for c in counts)
            finding(table.name, "visible_small_count", con.execute(
                f"select count(*) from {table.name} where status <> '{SUPPRESSED}' and ({small})").fetchone()[0],
                f"visible cell(s) with a count between 1 and {threshold - 1}")
            leaked = " or ".join(f"{c} is not null" for c in table.nulled)
            finding(table.name, "suppressed_value_shown", con.execute(
                f"select count(*) from {table.name} where status = '{SUPPRESSED}' and ({leaked})").fetchone()[0],
                "suppressed cell(s) still show a value")
            for margin in table.margins:
                group = ", ".join(k for k in table.keys if k != margin.part)
                is_total = f"{margin.part} = '{margin.total}'"
                # A lone hidden part under a shown total is the total minus the shown parts; a hidden
                # total over shown parts is their sum (unless a part is never published at all).
                lone, summed = con.execute(f"""
                    select count(*) filter (where shown_totals = 1 and hidden_parts = 1),
                           count(*) filter (where hidden_totals = 1 and hidden_parts = 0 and parts > 0)
                    from (
                        select count(*) filter (where {is_total} and status = '{SHOWN}') as shown_totals,
                               count(*) filter (where {is_total} and status = '{SUPPRESSED}') as hidden_totals,
                               count(*) filter (where not ({is_total}) and status = '{SUPPRESSED}') as hidden_parts,
                               count(*) filter (where not ({is_total})) as parts
                        from {table.name}
                        group by {group}
                    )""").fetchone()
                finding(table.name, f"lone_hidden_{margin.part}", lone,
                        f"{margin.part} margin(s) where the one hidden cell equals the shown total minus "
                        f"the shown cells")
                finding(table.name, f"hidden_total_{margin.part}", 0 if margin.hidden_remainder else summed,
                        f"hidden {margin.part} total(s) equal to the sum of the shown cells")
        if {"indicator_results", "indicator_trends", "federations"} <= existing:
            lone, summed = _shared_cell_findings(con)
            finding("indicator_trends", "trend_recovers_result", lone,
                    "trend cell(s) that recover a hidden result")
            finding("indicator_trends", "hidden_trend_is_sum", summed,
                    "hidden trend cell(s) equal to shown results")
    return findings


def audit(path: Path, threshold: int) -> list[str]:
    """Prove disclosure control over a published database. Returns violations."""
    return [f"{f['table']}: {f['cells']} {f['description']}" for f in audit_findings(path, threshold) if f["cells"]]


def _shared_cell_findings(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """A single-question trend cell = the sum of the result cells of the federations reporting as it."""
    return con.execute(f"""
        with single as (
            select period, respondent_group, indicator_id from indicator_trends
            group by all having count(distinct comparability_key) = 1
        ),
        parts as (
            select r.period, r.respondent_group, r.indicator_id,
                   coalesce(f.reporting_federation_code, r.federation_code) as federation_code, r.gender,
                   count(*) filter (where r.status = '{SUPPRESSED}') as hidden_parts,
                   sum(r.n) filter (where r.status = '{SHOWN}') as shown_n
            from indicator_results r left join federations f using (federation_code)
            group by all
        )
        select count(*) filter (where t.status = '{SHOWN}' and p.hidden_parts = 1),
               count(*) filter (where t.status = '{SUPPRESSED}' and p.hidden_parts = 0 and p.shown_n > 0)
        from indicator_trends t
        join single using (period, respondent_group, indicator_id)
        join parts p using (period, respondent_group, indicator_id, federation_code, gender)""").fetchone()


def write_publication(settings: Settings, path: Path) -> dict[str, pd.DataFrame]:
    """Protect the warehouse marts and write them as a new database at `path` (not yet published)."""
    tables = build_tables(settings.warehouse, settings.disclosure_threshold)
    meta = {
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": settings.disclosure_threshold,
        "warehouse_built_at": datetime.fromtimestamp(settings.warehouse.stat().st_mtime, UTC)
        .isoformat(timespec="seconds"),
        "tables": ", ".join(t.name for t in PUBLISHED),
    }
    write_database(path, tables, settings, meta)
    return tables


def publish(settings: Settings) -> Path:
    """Build, audit and atomically swap in publish/marts.duckdb."""
    settings.publish.mkdir(parents=True, exist_ok=True)
    target = settings.publish / "marts.duckdb"
    staging = settings.publish / f".marts-{uuid.uuid4().hex}.duckdb"
    try:
        tables = write_publication(settings, staging)
        checkpoint("publish.written")
        violations = audit(staging, settings.disclosure_threshold)
        if violations:
            raise PublicationRefused("Disclosure audit failed; nothing published:\n" + "\n".join(violations))
        with open(staging, "rb") as f:
            os.fsync(f.fileno())
        checkpoint("publish.before_replace")
        os.replace(staging, target)  # readers see the old file or the new, never half
        checkpoint("publish.after_replace")
        fd = os.open(settings.publish, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    suppressed = sum(int((df.get("status") == SUPPRESSED).sum()) for df in tables.values() if "status" in df)
    log.info("Published %s (%d suppressed cells)", target, suppressed)
    return target
