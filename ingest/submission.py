"""The one way into the lake: `ingest_submission(path)` for any file an operator or a task offers.

What it does with a path, safe to run again at any time:
- a new file in the inbox: a survey workbook/CSV or a register extract (by its
  name or its folder, `inbox/register/`) is landed or quarantined;
- known bytes: nothing is done, and the ledger's record is reported (a rejected
  file stays "rejected" until corrected bytes arrive, so a task succeeds exactly
  when its file is accepted). A survey copy leaves the inbox, reported as
  already ingested (submission_format.md §8.1);
- an archived original (`lake/archive/<id>.<ext>`, a forced reprocess after a
  contract fix): ingested again under its original name and arrival time, so the
  lake ends up as one fresh ingest of those bytes would leave it;
- a path that has left the inbox (an Airflow task cleared after it ran): the
  latest ledger record of a file of that name, without touching the lake.

Listing what waits (`waiting_surveys`, `waiting_extracts`) offers only complete
regular files (`ingest.inbox`: symlinks, FIFOs and other special files are
refused and left alone; a file still being written waits) and touches nothing but
the product's own record of when it first saw each name; `finish_interrupted` is
the separate step that completes an accepted extract whose record was committed
before its run stopped.

Identity is the hash of the bytes, but a file rejected only for its name
(`LedgerRecord.rejected_for_name`) has not had its bytes judged: the same bytes
offered under another name are processed (`is_new`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from core import files, ledger
from core.ledger import LedgerRecord
from core.settings import Settings

from . import inbox, lake
from .inbox import RefusedFile, shown_name, stored_name
from .outcome import Outcome
from .personnummer import redact
from .register import land_register, leave_register_inbox, register_inbox
from .survey import land_survey, leave_inbox
from .verdict import is_register_extract

log = logging.getLogger(__name__)

__all__ = ["RefusedFile", "ingest_submission", "is_new", "refused_in_inbox", "waiting_extracts",
           "waiting_surveys"]


def _files_in(folder: Path, settings: Settings) -> list[Path]:
    for entry in inbox.refused(folder):  # nns status and nns ingest show these; the task log says it too
        log.info("Refused and left where it is: %s", entry)  # names the entry by its stored name
    return inbox.offered(folder, settings)


def waiting_surveys(settings: Settings) -> list[Path]:
    """Complete survey files in the inbox (register extracts wait in inbox/register/)."""
    return _files_in(settings.inbox, settings)


def waiting_extracts(settings: Settings) -> list[Path]:
    return _files_in(register_inbox(settings), settings)


def refused_in_inbox(settings: Settings) -> list[RefusedFile]:
    """Entries of the inbox (and inbox/register/) that ingest refuses and leaves alone, each with its
    problem; reads nothing and records nothing, so `nns status` may call it."""
    return [*inbox.refused(settings.inbox), *inbox.refused(register_inbox(settings))]


def is_new(path: Path, settings: Settings, submission_id: str | None = None) -> bool:
    """Bytes the ledger has not judged: unseen, or seen only under a name that was rejected."""
    record = ledger.read_record(settings, submission_id or files.sha256_file(path))
    return record is None or (record.rejected_for_name and record.file_name != stored_name(Path(path)))


def ingest_submission(path: Path, settings: Settings, *, force: bool = False) -> Outcome:
    """Ingest one file (see the module's docstring for every case); returns what happened."""
    path = Path(path)
    name = shown_name(path)  # any personnummer masked; the ledger keeps it shortened (stored_name)
    lake.ensure_lake(settings)
    if path.parent == settings.archive and path.is_file() and not path.is_symlink():
        # The product's own copy, named by its hash: not an inbox entry (hex digits can look like a
        # personnummer), and reprocessed under the name the ledger keeps.
        return _reprocess_archived(path, settings)
    if os.path.lexists(path):
        inbox.check(path)  # a symlink, FIFO or device, or a personnummer in the name: never opened or removed
    if not path.exists():
        record = ledger.last_record_named(settings, stored_name(path), register=is_register_extract(path, settings))
        if record is None:
            raise FileNotFoundError(f"{redact(str(path))} is not in the inbox and the ledger knows no file "
                                    "of that name")
        return Outcome.restated(record, name)

    submission_id = files.sha256_file(path)
    known = ledger.read_record(settings, submission_id)
    if known and not force and not is_new(path, settings, submission_id):
        finish(path, known, settings)
        return Outcome.restated(known, name)
    # A reprocess keeps the arrival the ledger recorded, so a rerun in this data home decides
    # supersession as the first run did; anything else arrived when the product first saw it.
    received_at = known.received_at if known and force and known.received_at else inbox.arrival_time(path, settings)
    land = land_register if is_register_extract(path, settings) else land_survey
    record = land(path, settings, submission_id, received_at, known)
    outcome = Outcome(record, name)
    log.info(outcome.summary())
    return outcome


def finish(path: Path, record: LedgerRecord, settings: Settings) -> None:
    """Complete a committed file: it leaves the inbox (a survey's original is in the archive;
    an accepted extract's master is with the agency, a rejected one stays where it arrived)."""
    if not record.is_register:
        leave_inbox(path, settings, record.submission_id)
    elif record.accepted:
        leave_register_inbox(path, settings, record.submission_id)


def finish_interrupted(settings: Settings) -> list[str]:
    """Accepted extracts whose ledger record was committed but whose run stopped before they left
    the inbox (listing skips known extracts). A known survey file is listed instead, so that its
    copy is reported as already ingested (submission_format.md §8.1) when it leaves."""
    finished = []
    for path in waiting_extracts(settings):
        submission_id = files.sha256_file(path)
        record = ledger.read_record(settings, submission_id)
        if record is not None and record.accepted and not is_new(path, settings, submission_id):
            finish(path, record, settings)
            finished.append(path.name)
    return finished


def _reprocess_archived(path: Path, settings: Settings) -> Outcome:
    record = ledger.read_record(settings, path.stem)
    if record is None:
        raise FileNotFoundError(f"{path} is in the archive but not in the ledger")
    # A hard link under the original name, outside the inbox so ingest leaves it where it is;
    # the arrival time comes from the ledger record (a forced ingest keeps it).
    work = Path(tempfile.mkdtemp(dir=settings.lake, prefix=".reprocess."))
    try:
        named = work / record.file_name
        try:
            os.link(path, named)
        except OSError:
            shutil.copy2(path, named)
        return ingest_submission(named, settings, force=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
