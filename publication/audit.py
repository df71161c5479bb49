"""The disclosure audit of a written publication: what a reader could recover from it.

It reads only the published file, never the warehouse or the protector's masks. In every
protected table: no count between 1 and the threshold − 1 is shown, and a withheld row shows
no value. In a suppressed table also the structural rules of its margins and shared cells; a
perturbed table's parts need not add up, so its relations are the attacker's (publication.attack).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.swedish import SUPPRESSED
from publication.reader import PublishedDatabase
from publication.spec import COUNT_COLUMNS, PUBLISHED, SHOWN, Margin, PublishedTable


def audit_findings(path: Path, threshold: int) -> list[dict]:
    """Every disclosure check over a published database, with the number of cells that fail it.

    One row per table × check (zero when it passes), so the quality gate can show
    each check and the audit below can name the failures.
    """
    findings = []

    def finding(table: str, check: str, cells: int, description: str) -> None:
        findings.append({"table": table, "check": check, "cells": int(cells or 0), "description": description})

    reader = PublishedDatabase(path)
    perturbed = reader.info.perturbed
    reader.close()
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
            # A perturbed table's parts need not add up: its margins are the attacker's (publication.attack).
            for margin in [] if table.name in perturbed else table.margins:
                lone, derived, summed = con.execute(_margin_sql(table, margin, threshold)).fetchone()
                finding(table.name, f"lone_hidden_{margin.part}", lone,
                        f"{margin.part} margin(s) where the one hidden cell equals the shown total minus "
                        f"the shown cells")
                finding(table.name, f"small_derived_{margin.part}", derived,
                        f"{margin.part} margin(s) where the shown total minus the shown cells leaves "
                        f"1 to {threshold - 1} people")
                finding(table.name, f"hidden_total_{margin.part}", 0 if margin.hidden_remainder else summed,
                        f"hidden {margin.part} total(s) equal to the sum of the shown cells")
        if {"indicator_results", "indicator_trends", "federations"} <= existing and not perturbed & {
                "indicator_results", "indicator_trends"}:
            lone, summed = _shared_cell_findings(con)
            finding("indicator_trends", "trend_recovers_result", lone,
                    "trend cell(s) that recover a hidden result")
            finding("indicator_trends", "hidden_trend_is_sum", summed,
                    "hidden trend cell(s) equal to shown results")
    return findings


def _margin_sql(table: PublishedTable, margin: Margin, threshold: int) -> str:
    """Per margin: lone hidden parts, small derived groups, and hidden totals equal to their parts.

    From a shown total a reader derives the sum of its hidden parts (and of the part never
    published): that must be neither one hidden cell nor a group of 1..threshold-1 people.
    A hidden total over shown parts is their sum (unless a part is never published at all).
    """
    group = ", ".join(k for k in table.keys if k != margin.part)
    is_total = f"{margin.part} = '{margin.total}'"
    remainder, count = str(margin.hidden_remainder).lower(), table.margin_count
    return f"""
        select count(*) filter (where shown_totals = 1 and hidden_parts = 1 and not {remainder}),
               count(*) filter (where shown_totals = 1 and (hidden_parts > 0 or {remainder})
                                and total - shown between 1 and {threshold - 1}),
               count(*) filter (where hidden_totals = 1 and hidden_parts = 0 and parts > 0)
        from (
            select count(*) filter (where {is_total} and status = '{SHOWN}') as shown_totals,
                   count(*) filter (where {is_total} and status = '{SUPPRESSED}') as hidden_totals,
                   count(*) filter (where not ({is_total}) and status = '{SUPPRESSED}') as hidden_parts,
                   count(*) filter (where not ({is_total})) as parts,
                   sum({count}) filter (where {is_total} and status = '{SHOWN}') as total,
                   coalesce(sum({count}) filter (where not ({is_total}) and status = '{SHOWN}'), 0) as shown
            from {table.name}
            group by {group}
        )"""


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
