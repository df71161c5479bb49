"""Publishing the analyst database, publish/marts.duckdb.

Each build writes a new file beside the old one, protects every table through
publication.disclosure, audits the result, and only then renames it over the old file.
A reader always sees the last complete build; a failed audit publishes nothing.
Only aggregated, protected tables are written; person-level data stays in the
warehouse.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.catalogue import NATION
from core.crash_points import checkpoint
from core.files import replace_durably
from core.settings import Settings
from publication.audit import audit
from publication.disclosure import SHOWN, SUPPRESSED, Equation, apply, margin_equations, protect, protect_cells
from publication.specs import COUNT_COLUMNS, PUBLISHED

log = logging.getLogger(__name__)

class PublicationRefused(RuntimeError):
    """The new database failed the disclosure audit; the old one stays."""


def _mean_half_up(shares: pd.Series) -> float:
    """The mean of 4-decimal shares, rounded half up to 4 decimals exactly (docs/analysts.md, Rounding):
    in whole ten-thousandths, so a tie is never lost to binary floating point."""
    shares = shares.dropna()  # a shown cell with n = 0 has no share
    if shares.empty:
        return np.nan
    units = (shares * 10_000).round().astype("int64")
    total, count = int(units.sum()), len(units)
    return ((2 * total + count) // (2 * count)) / 10_000


def _results_extras(df: pd.DataFrame) -> pd.DataFrame:
    """National comparison columns, from the protected national rows only."""
    cell = ["period", "respondent_group", "indicator_id", "gender"]
    national = df[df.federation_code == NATION].set_index(cell)
    df = df.drop(columns=["national_positive_share", "national_mean_score"], errors="ignore")
    df = df.join(national[["positive_share", "mean_score"]].rename(
        columns={"positive_share": "national_positive_share", "mean_score": "national_mean_score"}), on=cell)
    # The unweighted mean of the federations shown, on the national rows.
    shown = df[(df.federation_code != NATION) & (df.status == SHOWN)]
    means = shown.groupby(cell)["positive_share"].agg(_mean_half_up).rename("federations_mean_share")
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
    for position, row in zip(single.index, single[cell + ["federation_code", "gender"]].itertuples(index=False),
                             strict=True):
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
        checkpoint("publish.before_replace")
        replace_durably(staging, target)  # readers see the old file or the new, never half
        checkpoint("publish.after_replace")
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    suppressed = sum(int((df.get("status") == SUPPRESSED).sum()) for df in tables.values() if "status" in df)
    log.info("Published %s (%d suppressed cells)", target, suppressed)
    return target
