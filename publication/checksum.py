"""A row-level checksum of the published database, to prove that reruns are idempotent.

Two publications are the same when every table has the same columns (names and
types), the same number of rows and the same multiset of rows. Row order does
not matter (each row is hashed, the hashes are sorted, then hashed together);
duplicated rows do (a sorted list keeps them, where an XOR would cancel them).

Excluded, because they say *when* a build ran, not *what* it published:
`publication.published_at` and `publication.warehouse_built_at`. Everything
else counts, including `collection_status.last_submission_at` (the submitted
file's own time stamp, so the same files always give the same value).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

VOLATILE = {"publication": {"published_at", "warehouse_built_at"}}


def table_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """{table: {"columns": [[name, type], ...], "rows": n, "digest": md5}} for every table in `con`."""
    tables = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'main' order by table_name").fetchall()]
    result = {}
    for table in tables:
        columns = [(name, kind) for name, kind in con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = current_database() "
            "and schema_name = 'main' and table_name = ? order by column_index", [table]).fetchall()
            if name not in VOLATILE.get(table, set())]
        select = ", ".join(f'"{name}"' for name, _ in columns)
        rows, digest = con.execute(f"""
            select count(*), md5(coalesce(string_agg(h, '' order by h), ''))
            from (select md5(cast(r as varchar)) as h from (select {select} from "{table}") as r)""").fetchone()
        result[table] = {"columns": [list(c) for c in columns], "rows": rows, "digest": digest}
    return result


def combine(tables: dict[str, dict]) -> str:
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def published_checksum(path: Path) -> str:
    """One SHA-256 over every table of a DuckDB file (opened read-only)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return combine(table_checksums(con))
