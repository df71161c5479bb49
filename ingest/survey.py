"""Ingesting one survey file from the inbox: identify, archive, validate, land or quarantine.

Each call handles exactly one file and touches nothing shared but its own
submission id's paths, so many can run in parallel (one Airflow mapped task per
file). Running it twice on the same bytes is a no-op.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core import files, ledger
from core.crash_points import checkpoint
from core.ledger import LedgerRecord
from core.settings import Settings

from . import inbox, lake
from .contract import (
    ANSWER_FIELDS,
    COLLECTION_FIELDS,
    RESPONDENT_FIELDS,
    Parsed,
    SubmissionName,
)
from .inbox import stored_name
from .problems import Problem
from .verdict import judge_survey

CONTRACT_VERSION = "1"
log = logging.getLogger(__name__)


def land_survey(path: Path, settings: Settings, submission_id: str, received_at: str,
                known: LedgerRecord | None) -> LedgerRecord:
    """Archive, validate, then land or quarantine one survey file; returns its committed record.

    Called by `ingest.submission.ingest_submission`, which decides that the bytes need work.
    """
    # Keep the original first, whatever happens next.
    archived = lake.archive_path(settings, submission_id, path.suffix)
    if not archived.exists():
        files.atomic_copy(path, archived)
    checkpoint("ingest.archived")

    verdict = judge_survey(path, path.name, settings)
    name, parsed = verdict.name, verdict.parsed
    errors, warnings = verdict.errors, verdict.warnings
    record = LedgerRecord(
        submission_id=submission_id, source=ledger.SURVEY, file_name=stored_name(path),
        received_at=received_at, ingested_at=ledger.now_utc(),
        federation_code=name.federation_code if name else None,
        period=name.period if name else None,
        format=verdict.fmt, encoding=verdict.encoding,
        respondent_groups=list(verdict.respondent_groups), collection_groups=list(verdict.collection_groups),
        rows_ok=verdict.rows_ok, rows_total=verdict.rows_total, errors=len(errors), warnings=len(warnings),
        first_problem=verdict.first_problem,
        archive_path=str(archived.relative_to(settings.home)),
        contract_version=CONTRACT_VERSION,
    )

    if not verdict.accepted:
        record.status = ledger.REJECTED
        record.rejected_for_name = verdict.rejected_for_name
        _quarantine(path, settings, record, parsed.problems)
    else:
        record.status = ledger.ACCEPTED
        _land(settings, name, parsed, record, warnings)

    checkpoint("ingest.landed")
    ledger.write_record(settings, record)  # the commit point
    checkpoint("ingest.committed")
    if known:  # reprocessed on request (force): the earlier outcome's folder goes
        lake.drop_stale_outcome(settings, "survey", submission_id, record.status)
    leave_inbox(path, settings, submission_id)
    return record


def leave_inbox(path: Path, settings: Settings, submission_id: str) -> None:
    """A processed file leaves the inbox, only once the archive holds exactly its bytes.

    Both are hashed again: if the file changed since it was read (a writer still
    appending), it stays and is offered again as new bytes. Files elsewhere are left alone.
    """
    if path.is_symlink() or path.parent.resolve() != settings.inbox.resolve():
        return
    archived = lake.archive_path(settings, submission_id, path.suffix)
    if not archived.exists() or files.sha256_file(archived) != submission_id:
        return
    if files.sha256_file(path) != submission_id:
        return
    path.unlink(missing_ok=True)
    inbox.forget(path, settings)


def _quarantine(path: Path, settings: Settings, record: LedgerRecord, problems: list[Problem]) -> None:
    target = settings.quarantine / record.submission_id
    staged = files.StagedDir(target)
    try:
        files.atomic_copy(path, staged.path / record.file_name)
        files.atomic_write_json(staged.path / "errors.json", {
            "submission_id": record.submission_id,
            "file_name": record.file_name,
            "federation_code": record.federation_code,
            "period": record.period,
            "received_at": record.received_at,
            "rows_ok": record.rows_ok,
            "rows_total": record.rows_total,
            "problems": [p.to_dict() for p in problems],
        })
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    record.quarantine_path = str(target.relative_to(settings.home))


def _land(settings: Settings, name: SubmissionName, parsed: Parsed, record: LedgerRecord,
          warnings: list[Problem]) -> None:
    submission_id = record.submission_id
    schemas = lake.SCHEMAS["survey"]
    target = settings.raw_source("survey") / submission_id
    staged = files.StagedDir(target)
    keys = (submission_id, name.federation_code, name.period)
    try:
        lake.write_parquet(staged.path / "respondents.parquet", schemas["respondents"],
                           [keys + r for r in parsed.respondents])
        checkpoint("ingest.staging")  # a half-written submission under its temporary name
        lake.write_parquet(staged.path / "answers.parquet", schemas["answers"],
                           [(submission_id,) + a for a in parsed.answers])
        lake.write_parquet(staged.path / "collection.parquet", schemas["collection"],
                           [keys + c for c in parsed.collection])
        files.atomic_write_json(staged.path / "manifest.json", {
            **record.to_dict(),
            "tables": {
                "respondents": {"rows": len(parsed.respondents), "fields": list(RESPONDENT_FIELDS)},
                "answers": {"rows": len(parsed.answers), "fields": list(ANSWER_FIELDS)},
                "collection": {"rows": len(parsed.collection), "fields": list(COLLECTION_FIELDS)},
            },
            "warnings": [w.to_dict() for w in warnings],
            "writer_pid": os.getpid(),
        })
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    record.raw_path = str(target.relative_to(settings.home))
