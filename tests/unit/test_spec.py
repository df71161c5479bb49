"""publication.spec describes every published table whole, and every part of the product reads it."""

from __future__ import annotations

import pytest

from core.settings import REPO_ROOT
from publication.spec import COLUMNS, COUNT_COLUMNS, STATUS, TABLES, PublishedTable


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_each_table_is_described_whole(table: PublishedTable):
    assert set(table.published_columns) <= set(COLUMNS), set(table.published_columns) - set(COLUMNS)
    assert set(table.keys) <= set(table.columns) and set(table.dimensions) <= set(table.keys)
    assert set(table.nulled) <= set(table.columns)
    assert all(m.part in table.keys for m in table.margins)
    assert table.label[0] and table.label[1]
    if table.protected:
        assert table.margin_count in table.columns and COLUMNS[table.margin_count].counts_people
        assert STATUS in table.published_columns
        # Every count of people a protected table shows is withheld with its cell.
        assert {c for c in table.columns if c in COUNT_COLUMNS} <= set(table.nulled)


def test_every_count_of_people_is_a_whole_number_with_a_unit():
    for name in COUNT_COLUMNS:
        assert COLUMNS[name].unit.sql_type == "BIGINT" and COLUMNS[name].unit.decimals == 0, name


def test_no_other_module_keeps_labels_units_or_keys_of_the_published_tables():
    """The facts the API, the exports and the writer used to keep apart (CONTENT_LABELS, ROW_KEYS, ATTACKED_COUNT,
    integer columns) live in the spec only."""
    copies = {"CONTENT_LABELS", "DIMENSION_LABELS", "TABLE_LABELS", "ROW_KEYS", "CUBE_KEYS", "COUNT_COLUMNS |"}
    product = [p for folder in ("publication", "report", "api", "expectations", "operations")
               for p in (REPO_ROOT / folder).rglob("*.py") if p.name != "spec.py"]
    found = [(p.name, c) for p in product for c in copies if c in p.read_text(encoding="utf-8")]
    assert not found, found
