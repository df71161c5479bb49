"""Are two warehouses' marts the same rows? For changes made for speed only.

Every table of the `marts` schema in both files, every column, compared as multisets
(EXCEPT ALL both ways), with a row count and an order-free checksum per table:

    .venv/bin/python -m bench.same_marts BEFORE.duckdb AFTER.duckdb

Exit code 0 when every mart is identical, 1 when one differs or exists in one file only.
Build both under the same NNS_CKM_SECRET: the CKM cell keys are marts columns too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

SCHEMA = "marts"


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = ? order by table_name",
        [database, SCHEMA]).fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from duckdb_columns() where database_name = ? and schema_name = ? and table_name = ? "
        "order by column_index", [database, SCHEMA, table]).fetchall()]


def compare(before: Path, after: Path) -> dict[str, dict]:
    """Per mart: rows in each file, rows only in one, the checksums, and whether the two are the same."""
    result: dict[str, dict] = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{before}' as a (read_only)")
        con.execute(f"attach '{after}' as b (read_only)")
        tables_a, tables_b = _tables(con, "a"), _tables(con, "b")
        for table in sorted(set(tables_a) | set(tables_b)):
            if table not in tables_a or table not in tables_b:
                result[table] = {"same": False, "missing_in": "before" if table not in tables_a else "after"}
                continue
            columns = _columns(con, "a", table)
            if columns != _columns(con, "b", table):
                result[table] = {"same": False, "columns": {"before": columns, "after": _columns(con, "b", table)}}
                continue
            cols = ", ".join(f'"{c}"' for c in columns)
            left, right = f"a.{SCHEMA}.{table}", f"b.{SCHEMA}.{table}"
            only_before, only_after, rows_before, rows_after, sum_before, sum_after = con.execute(f"""
                select
                    (select count(*) from (select {cols} from {left} except all select {cols} from {right})),
                    (select count(*) from (select {cols} from {right} except all select {cols} from {left})),
                    (select count(*) from {left}),
                    (select count(*) from {right}),
                    (select coalesce(sum(hash(({cols}))), 0) from {left}),
                    (select coalesce(sum(hash(({cols}))), 0) from {right})""").fetchone()
            result[table] = {
                "same": only_before == 0 and only_after == 0 and sum_before == sum_after,
                "rows": [rows_before, rows_after],
                "only_before": only_before,
                "only_after": only_after,
                "checksum": [str(sum_before), str(sum_after)],
            }
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.same_marts BEFORE.duckdb AFTER.duckdb", file=sys.stderr)
        return 2
    result = compare(Path(argv[0]), Path(argv[1]))
    for table, r in result.items():
        if "rows" in r:
            print(f"{table:28} {'same' if r['same'] else 'DIFFERENT':9} rows {r['rows'][0]:>8} / {r['rows'][1]:>8}"
                  f"  only before {r['only_before']}, only after {r['only_after']}, checksum {r['checksum'][1]}")
        else:
            print(f"{table:28} DIFFERENT {r}")
    return 0 if result and all(r["same"] for r in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
