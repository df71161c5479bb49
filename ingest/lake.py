"""The lake on disk: atomic writes, the submission ledger, archive, quarantine, raw.

Layout under NNS_HOME/lake:
    archive/<submission_id>.<ext>         every survey original, always
    quarantine/<submission_id>/            the original + errors.json, for a rejected file
    raw/<source>/<submission_id>/          immutable Parquet + manifest.json
    raw/<source>/_schema/                  zero-row files that pin the schema for dbt
    ledger/<submission_id>.json            one record per submission: the commit point

A submission is identified by the SHA-256 of its bytes. Every write goes to a
temporary name and is renamed into place, so a crash leaves the old state or the
new, never half; the ledger record is written last, so a file without one is
simply processed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nns.settings import Settings

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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(target: Path, payload: dict | list) -> None:
    atomic_write_bytes(target, json.dumps(payload, ensure_ascii=False, indent=2, default=str).encode("utf-8"))


def atomic_copy(source: Path, target: Path) -> None:
    """Copy a file into place atomically, keeping its modification time."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StagedDir:
    """Build a directory under a temporary name, then rename it into place."""

    def __init__(self, target: Path):
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))

    def commit(self) -> None:
        for child in self.path.iterdir():
            with open(child, "rb") as f:
                os.fsync(f.fileno())
        if self.target.exists():
            # Reprocessing (force): move the old one aside first, then drop it.
            old = self.target.with_name(f".{self.target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.target, old)
            os.replace(self.path, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.path, self.target)
        _fsync_dir(self.target.parent)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def write_parquet(path: Path, schema: pa.Schema, rows: list[tuple]) -> None:
    table = pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


def ensure_lake(settings: Settings) -> None:
    """Create the data home's folders and the zero-row schema files dbt reads."""
    for folder in (settings.inbox, settings.inbox / "register", settings.archive, settings.quarantine,
                   settings.ledger, settings.publish):
        folder.mkdir(parents=True, exist_ok=True)
    for source, tables in SCHEMAS.items():
        schema_dir = settings.raw / source / "_schema"
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
    folders = [settings.raw / "survey", settings.raw / "register", settings.archive, settings.ledger,
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


# --- the ledger ---

def ledger_path(settings: Settings, submission_id: str) -> Path:
    return settings.ledger / f"{submission_id}.json"


def read_ledger_record(settings: Settings, submission_id: str) -> dict | None:
    path = ledger_path(settings, submission_id)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_ledger_record(settings: Settings, record: dict) -> None:
    # One JSON object on one line: dbt reads the folder as newline-delimited JSON.
    atomic_write_bytes(ledger_path(settings, record["submission_id"]),
                       (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8"))


def ledger_records(settings: Settings) -> list[dict]:
    records = []
    for path in sorted(settings.ledger.glob("*.json")):
        text = path.read_text(encoding="utf-8").strip()
        if text:
            records.append(json.loads(text))
    return records


def last_record_named(settings: Settings, file_name: str, *, register: bool) -> dict | None:
    """The latest ledger record of a file that arrived under this name (survey or register)."""
    named = [r for r in ledger_records(settings) if r.get("file_name") == file_name
             and r.get("source", "").startswith("register") == register]
    return max(named, key=lambda r: (r.get("received_at") or "", r.get("ingested_at") or ""), default=None)


def archive_path(settings: Settings, submission_id: str, suffix: str) -> Path:
    return settings.archive / f"{submission_id}{suffix.lower()}"


def drop_stale_outcome(settings: Settings, source: str, submission_id: str, status: str) -> None:
    """After a forced reprocess, remove what the submission's previous outcome left behind.

    Called after the ledger record (the commit point), so a crash in between leaves only
    a folder that nothing reads (dbt takes the status from the ledger). The lake then holds
    what one fresh ingest of these bytes would have written: raw or quarantine, not both.
    """
    stale = settings.quarantine / submission_id if status == "accepted" else settings.raw / source / submission_id
    if stale.exists():
        shutil.rmtree(stale)
