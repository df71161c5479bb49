"""The lake on disk: archive, quarantine, raw (the ledger is `core.ledger`).

Layout under NNS_HOME/lake:
    archive/<submission_id>.<ext>         every survey original, always
    quarantine/<submission_id>/            the original + errors.json, for a rejected file
    raw/<source>/<submission_id>/          immutable Parquet + manifest.json
    raw/<source>/_schema/                  zero-row files that pin the schema for dbt
    ledger/<submission_id>.json            one record per submission: the commit point (core.ledger)

A submission is identified by the SHA-256 of its bytes. Every write is atomic
(`core.files`), so a crash leaves the old state or the new, never half; the
ledger record is written last, so a file without one is simply processed again.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.files import StagedDir, atomic_write_bytes
from core.settings import Settings

SCHEMAS: dict[str, dict[str, pa.Schema]] = {
    "survey": {
        "respondents": pa.schema([
            ("submission_id", pa.string()), ("federation_code", pa.string()), ("period", pa.string()),
            ("respondent_group", pa.string()), ("serial", pa.string()), ("source_row", pa.int32()),
            ("answered_on", pa.date32()), ("gender", pa.string()), ("age_group", pa.string()),
            ("insats", pa.string()),
        ]),
        "answers": pa.schema([
            ("submission_id", pa.string()), ("respondent_group", pa.string()), ("serial", pa.string()),
            ("question_code", pa.string()), ("answer_value", pa.int8()),
        ]),
        "collection": pa.schema([
            ("submission_id", pa.string()), ("federation_code", pa.string()), ("period", pa.string()),
            ("respondent_group", pa.string()), ("asked", pa.int32()), ("answered", pa.int32()),
        ]),
    },
    # Register extracts after pseudonymisation: person_key is an HMAC, never a personnummer.
    "register": {
        "participants": pa.schema([
            ("submission_id", pa.string()), ("source_row", pa.int64()), ("person_key", pa.string()),
            ("is_linkable", pa.bool_()), ("gender", pa.string()), ("birth_year", pa.int32()),
            ("federation_code", pa.string()), ("insats", pa.string()), ("start_date", pa.date32()),
            ("end_date", pa.date32()), ("support_at_start", pa.string()), ("support_at_end", pa.string()),
            ("years_public_support_before", pa.int32()), ("end_reason", pa.string()),
        ]),
        "income": pa.schema([
            ("submission_id", pa.string()), ("person_key", pa.string()), ("month", pa.date32()),
            ("category", pa.string()), ("amount", pa.int64()),
        ]),
    },
}


def write_parquet(path: Path, schema: pa.Schema, rows: list[tuple]) -> None:
    table = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


def ensure_lake(settings: Settings) -> None:
    """Create the data home's folders and the zero-row schema files dbt reads."""
    for folder in (settings.inbox, settings.register_inbox, settings.archive, settings.quarantine,
                   settings.ledger, settings.publish):
        folder.mkdir(parents=True, exist_ok=True)
    for source, tables in SCHEMAS.items():
        schema_dir = settings.raw_source(source) / "_schema"
        if all((schema_dir / f"{t}.parquet").exists() for t in tables):
            continue
        staged = StagedDir(schema_dir)
        for table, schema in tables.items():
            write_parquet(staged.path / f"{table}.parquet", schema, [])
        staged.commit()
    empty_ledger = settings.ledger / "_empty.json"  # lets dbt read an empty ledger
    if not empty_ledger.exists():
        atomic_write_bytes(empty_ledger, b"")


def sweep_temporaries(settings: Settings, *, older_than: float = 3600.0) -> list[Path]:
    """Remove what a killed writer left under a temporary name.

    Such leftovers are never read (dbt's globs skip hidden folders, the ledger's
    skips non-.json names), so this only frees space. Only old ones go: a young
    one may belong to an ingest running right now.
    """
    cutoff = time.time() - older_than
    removed = []
    folders = [settings.raw_source("survey"), settings.raw_source("register"), settings.archive, settings.ledger,
               settings.quarantine, *settings.quarantine.glob("*/")]
    for folder in folders:
        for path in folder.glob(".*"):
            if not path.name.endswith((".tmp", ".old")) or path.lstat().st_mtime > cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def archive_path(settings: Settings, submission_id: str, suffix: str) -> Path:
    return settings.archive / f"{submission_id}{suffix.lower()}"


def drop_stale_outcome(settings: Settings, source: str, submission_id: str, status: str) -> None:
    """After a forced reprocess, remove what the submission's previous outcome left behind.

    Called after the ledger record (the commit point), so a crash in between leaves only
    a folder that nothing reads (dbt takes the status from the ledger). The lake then holds
    what one fresh ingest of these bytes would have written: raw or quarantine, not both.
    """
    stale = settings.quarantine / submission_id if status == "accepted" else settings.raw_source(source) / submission_id
    if stale.exists():
        shutil.rmtree(stale)
