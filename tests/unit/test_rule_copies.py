"""Where SQL needs its own copy of a rule from `core`, the copy is checked against the original."""

from __future__ import annotations

import re

import duckdb
import yaml

from core.catalogue import NATION
from core.ledger import ARRIVAL_ORDER, LedgerRecord
from core.settings import REPO_ROOT

MACROS = REPO_ROOT / "dbt_project" / "macros"


def _macro_body(file: str, name: str) -> str:
    text = (MACROS / file).read_text(encoding="utf-8")
    match = re.search(r"{%\s*macro\s+" + name + r"\(\)\s*-?%}(.*?){%-?\s*endmacro\s*%}", text, re.DOTALL)
    assert match, f"macro {name} not found in {file}"
    return match.group(1).strip()


def test_dbt_arrival_key_is_core_arrival_order():
    body = _macro_body("arrival_order.sql", "arrival_key")
    assert tuple(part.strip() for part in body.strip("()").split(",")) == ARRIVAL_ORDER


def test_dbt_and_python_order_the_same_submissions_the_same_way():
    records = [LedgerRecord(submission_id=s, source="survey", file_name="x", received_at=r, ingested_at=i)
               for s, r, i in [("b", "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00"),
                               ("a", "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00"),
                               ("c", "2025-01-02T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
                               ("d", "2025-01-01T00:00:00+00:00", "2025-01-09T00:00:00+00:00")]]
    python = [r.submission_id for r in sorted(records, key=LedgerRecord.arrival_key)]
    with duckdb.connect() as con:
        con.execute("create table submissions (submission_id varchar, received_at varchar, ingested_at varchar)")
        con.executemany("insert into submissions values (?, ?, ?)",
                        [(r.submission_id, r.received_at, r.ingested_at) for r in records])
        body = _macro_body("arrival_order.sql", "arrival_key")
        sql = [s for (s,) in con.execute(f"select submission_id from submissions order by {body}").fetchall()]
    assert sql == python == ["d", "c", "a", "b"]


def test_dbt_nation_code_is_core_nation():
    project = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    assert project["vars"]["nation_code"] == NATION


def test_no_model_writes_the_nation_code_literally():
    literal = re.compile(r"'" + NATION + r"'")
    offenders = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "dbt_project").rglob("*.sql")
                 if literal.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"use var('nation_code') instead of the literal: {offenders}"
