"""Transformations against the floor: the dbt models behind the indicator marts
and indicator 11, against one hand-written DuckDB script (bench/floor.sql) over
the same lake, checked equal table by table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from core.settings import Settings
from publication.ckm import CELL_KEY

FLOOR_SQL = Path(__file__).with_name("floor.sql")
TABLES = ("indicator_results", "indicator_trends", "indicator11_outcomes")
DBT_SELECTION = " ".join(f"+{t}" for t in TABLES)


class FloorMismatch(AssertionError):
    """The floor computed different numbers from the warehouse: the comparison would be meaningless."""


def run_results_summary(target_dir: Path) -> dict:
    """dbt's own timings (run_results.json): the run's elapsed time, and the
    execution time of its nodes summed per kind, which leaves out dbt's start-up
    (imports, parsing the project, opening DuckDB)."""
    results = json.loads((target_dir / "run_results.json").read_text())
    by_kind: dict[str, dict] = {}
    slowest = []
    for node in results["results"]:
        kind = node["unique_id"].split(".")[0]
        entry = by_kind.setdefault(kind, {"nodes": 0, "execution_s": 0.0})
        entry["nodes"] += 1
        entry["execution_s"] += node["execution_time"]
        slowest.append((node["execution_time"], node["unique_id"]))
    for entry in by_kind.values():
        entry["execution_s"] = round(entry["execution_s"], 2)
    return {
        "elapsed_s": round(results["elapsed_time"], 2),
        "nodes_s": round(sum(e["execution_s"] for e in by_kind.values()), 2),
        "by_kind": by_kind,
        "slowest": [{"node": n, "s": round(s, 2)} for s, n in sorted(slowest, reverse=True)[:8]],
    }


def time_dbt_selection(settings: Settings) -> dict:
    """`dbt run` of just the models the three marts need (seeds are already loaded)."""
    from operations.steps import run_dbt

    started = time.monotonic()
    run_dbt(settings, "run", "--select", *DBT_SELECTION.split())
    wall = time.monotonic() - started
    summary = run_results_summary(settings.dbt_target)
    summary["wall_s"] = round(wall, 2)
    # Start-up: everything the process did outside the run dbt timed itself.
    summary["startup_s"] = round(wall - summary["elapsed_s"], 2)
    return summary


def run_floor(settings: Settings, database: Path) -> float:
    """The floor script in a fresh DuckDB file with the warehouse's settings; seconds."""
    database.unlink(missing_ok=True)
    sql = (FLOOR_SQL.read_text(encoding="utf-8")
           .replace("{{HOME}}", str(settings.home))
           .replace("{{SEEDS}}", str(settings.catalogue_dir)))
    started = time.monotonic()
    with duckdb.connect(str(database), config={
            "memory_limit": settings.duckdb_memory_limit, "threads": settings.duckdb_threads,
            "preserve_insertion_order": False}) as con:
        con.execute(sql)
        con.execute("checkpoint")
    return time.monotonic() - started


def check_equal(settings: Settings, database: Path) -> dict:
    """Every row of each floor table in the warehouse's mart and vice versa (multisets)."""
    rows = {}
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute(f"attach '{settings.warehouse}' as wh (read_only)")
        for table in TABLES:
            # The CKM cell keys sum secret record keys (an HMAC in a dbt Python model): not the floor's job.
            columns = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where database_name = 'wh' and schema_name = 'marts' "
                "and table_name = ? and not ends_with(column_name, ?) order by column_index",
                [table, CELL_KEY]).fetchall()]
            if not columns:
                raise FloorMismatch(f"the warehouse has no marts.{table}")
            cols = ", ".join(f'"{c}"' for c in columns)
            # answer_counts carries each value's cell key too: the floor's lists compare without it.
            mart = cols.replace('"answer_counts"', "list_transform(answer_counts, lambda v: {'answer_value': "
                                "v.answer_value, 'answers': v.answers}) as answer_counts")
            only_floor, only_dbt, n = con.execute(f"""
                select
                    (select count(*) from (select {cols} from main.{table}
                                           except all select {mart} from wh.marts.{table})),
                    (select count(*) from (select {mart} from wh.marts.{table}
                                           except all select {cols} from main.{table})),
                    (select count(*) from wh.marts.{table})""").fetchone()
            if only_floor or only_dbt:
                raise FloorMismatch(f"{table}: {only_floor} row(s) only in the floor, {only_dbt} only in dbt's mart")
            rows[table] = n
    return rows


def compare(settings: Settings, work: Path) -> dict:
    """dbt (models only, start-up reported apart) against the floor, checked equal."""
    dbt = time_dbt_selection(settings)
    database = work / "floor.duckdb"
    floor_s = run_floor(settings, database)
    rows = check_equal(settings, database)
    database.unlink(missing_ok=True)
    return {
        "dbt": dbt,
        "floor_s": round(floor_s, 2),
        "rows": rows,
        "ratio_nodes": round(dbt["nodes_s"] / floor_s, 2),
        "ratio_wall": round(dbt["wall_s"] / floor_s, 2),
    }
