"""Reruns are safe by construction: the same files always publish the same database.

"The same database" is publication.checksum's row-level checksum (every table, every
row, order-independent; the publication time stamps excluded). Clearing a task
or rerunning a DAG run calls the same functions as here: the DAG tasks are thin
wrappers around ingest_file / ingest_register / build_warehouse / publish_marts.
The fault test (test_faults.py) adds crashes at every step.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from core import ledger
from ingest.submission import ingest_submission
from operations.build_log import read_build_status
from operations.steps import build_warehouse, ingest_with_feedback, publish_marts, quality_gate, stage_publication
from publication.checksum import published_checksum
from tests.readers import ReaderLoop

NNS = str(Path(sys.executable).with_name("nns"))


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file (temporary ones excluded) and a hash of its bytes."""
    return {str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def originals_back_in_the_inbox(settings) -> list[Path]:
    """Every archived survey original, back in the inbox under its own name and time stamp."""
    paths = []
    for record in ledger.all_records(settings):
        if record.source == "survey":
            target = settings.inbox / record.file_name
            shutil.copy2(settings.home / record.archive_path, target)
            paths.append(target)
    return paths


def published_at(settings) -> str:
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        return con.execute("select published_at from publication").fetchone()[0]


def test_rerunning_the_build_publishes_the_same_database_and_a_reader_never_fails(published_home):
    """Clearing dbt_build and publish (or rerunning nns_build) on the same lake; a reader reads throughout."""
    settings = published_home
    target = settings.publish / "marts.duckdb"
    clean = published_checksum(target)
    before = published_at(settings)
    with ReaderLoop(target) as reader:
        build_warehouse(settings)
        stage_publication(settings)
        quality_gate(settings)
        publish_marts(settings)
    assert published_checksum(target) == clean
    assert read_build_status(settings)["steps"]["publish"]["checksum"] == clean
    assert published_at(settings) >= before  # a new file (to the second), the same rows
    assert reader.failures == [], reader.failures[:5]
    assert set(reader.seen) == {clean}, "a reader saw something other than the complete database"
    assert reader.reads >= 5, f"only {reader.reads} reads in {reader.seconds:.0f} s"


def test_ingesting_the_same_files_again_by_hand_changes_nothing(published_home):
    settings = published_home
    before = snapshot(settings.ledger, settings.raw, settings.archive, settings.quarantine)
    paths = originals_back_in_the_inbox(settings)
    result = subprocess.run([NNS, "ingest", *map(str, paths)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NNS_HOME": str(settings.home)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(paths) and all(line.startswith("already ingested") for line in lines)
    assert snapshot(settings.ledger, settings.raw, settings.archive, settings.quarantine) == before
    assert list(settings.inbox.glob("*.*")) == [], "known files leave the inbox"
    # Clearing a finished ingest task runs it again (operations.steps.ingest_with_feedback) on a path that has left
    # the inbox: still a no-op.
    again = ingest_with_feedback(paths[0], settings)
    assert again.status == "known" and again.file_name == paths[0].name
    assert snapshot(settings.ledger, settings.raw, settings.archive, settings.quarantine) == before


def test_reingesting_everything_in_another_order_publishes_the_same_database(published_home):
    """Forced reprocessing rewrites every ledger record (new ingest times, reverse order): same result."""
    settings = published_home
    clean = published_checksum(settings.publish / "marts.duckdb")
    ledger_before = {r.submission_id: r.ingested_at for r in ledger.all_records(settings)}
    for path in sorted(originals_back_in_the_inbox(settings), reverse=True):
        ingest_submission(path, settings, force=True)
    rewritten = {r.submission_id: r for r in ledger.all_records(settings)}
    assert set(rewritten) == set(ledger_before)
    build_warehouse(settings)
    stage_publication(settings)
    quality_gate(settings)
    publish_marts(settings)
    assert published_checksum(settings.publish / "marts.duckdb") == clean
