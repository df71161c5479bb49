"""The row-level checksum used to prove idempotence: what it sees and what it ignores."""

from __future__ import annotations

import duckdb

from publication.checksum import published_checksum


def database(path, rows, *, published_at="2026-11-20T01:00:00+00:00", kind="bigint"):
    with duckdb.connect(str(path)) as con:
        con.execute(f"create table indicator_results (federation_code varchar, n {kind}, share double)")
        con.executemany("insert into indicator_results values (?, ?, ?)", rows)
        con.execute("create table publication as select ?::varchar as published_at, 5 as disclosure_threshold, "
                    "?::varchar as warehouse_built_at", [published_at, published_at])
    return path


ROWS = [("SF01", 12, 0.5), ("SF02", None, None), ("RIKET", 40, 0.625)]


def test_row_order_and_publication_time_do_not_matter(tmp_path):
    first = published_checksum(database(tmp_path / "a.duckdb", ROWS))
    again = published_checksum(database(tmp_path / "b.duckdb", list(reversed(ROWS)),
                                        published_at="2026-11-21T01:00:00+00:00"))
    assert first == again


def test_any_difference_in_content_or_shape_does(tmp_path):
    base = published_checksum(database(tmp_path / "base.duckdb", ROWS))
    variants = {
        "a value": [("SF01", 12, 0.5000001), *ROWS[1:]],
        "a duplicated row": ROWS + [ROWS[0]],
        "a missing row": ROWS[:2],
        "a null that became a value": [ROWS[0], ("SF02", 0, None), ROWS[2]],
    }
    for name, rows in variants.items():
        assert published_checksum(database(tmp_path / f"{len(rows)}-{hash(name)}.duckdb", rows)) != base, name
    assert published_checksum(database(tmp_path / "int.duckdb", ROWS, kind="integer")) != base, "a column type"
    with duckdb.connect(str(tmp_path / "base.duckdb")) as con:
        con.execute("alter table publication add column tables varchar")
    assert published_checksum(tmp_path / "base.duckdb") != base, "a new column"
