"""`nns rerun` without a deployment runs the DAG in-process (embedded Airflow on SQLite):
an integration test, because it migrates and runs a real Airflow metadata database."""

from __future__ import annotations

from core import ledger
from tests.unit.test_rerun import nns


def test_nns_rerun_runs_locally_without_a_deployment(settings, write_submission):
    write_submission("SF07_2025-26.xlsx")
    first = nns(settings, "rerun", "--file", "SF07_2025-26.xlsx", "--no-build")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "No deployment configured" in first.stdout and "SF07_2025-26.xlsx: success" in first.stdout
    assert [r.status for r in ledger.all_records(settings)] == ["accepted"]
