"""The submission ledger: one typed record per submission, written and read only here.

`<home>/lake/ledger/<submission_id>.json` holds one JSON object on one line (dbt
reads the folder as newline-delimited JSON, `models/staging/ledger`). The record
is written last when a file is ingested: it is the commit point, so a file
without one is simply processed again.

Arrival order, the rule that decides which of two submissions is the later one,
is `ARRIVAL_ORDER` (the time the product first saw the file, then the time it
was ingested, then the id). dbt's copy is the macro `arrival_key()`; a test keeps
the two equal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from core.files import atomic_write_text
from core.settings import Settings

ACCEPTED, REJECTED = "accepted", "rejected"
SURVEY, REGISTER_SUS, REGISTER_INCOME = "survey", "register_sus", "register_income"
ARRIVAL_ORDER = ("received_at", "ingested_at", "submission_id")


def now_utc() -> str:
    """The ledger's time stamps: UTC, ISO 8601, whole seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class LedgerRecord:
    submission_id: str  # SHA-256 of the file's bytes
    source: str  # survey | register_sus | register_income | register (a name that says neither)
    file_name: str
    received_at: str  # arrival: when the product first saw the file (UTC; ingest.inbox.arrival_time)
    ingested_at: str
    status: str = REJECTED
    format: str | None = None
    rows_ok: int = 0
    rows_total: int = 0
    errors: int = 0
    warnings: int = 0
    first_problem: str | None = None
    # Rejected for its name alone: the bytes were not judged, so the same bytes under another
    # name are processed again (ingest.submission.is_new).
    rejected_for_name: bool = False
    archive_path: str | None = None
    quarantine_path: str | None = None
    raw_path: str | None = None
    # surveys
    federation_code: str | None = None
    period: str | None = None
    encoding: str | None = None
    contract_version: str | None = None
    # What a survey submission supersedes: questionnaire rows and collection counts separately,
    # because a CSV sender sends them as separate files.
    respondent_groups: list[str] = field(default_factory=list)
    collection_groups: list[str] = field(default_factory=list)
    # register extracts
    extract_month: str | None = None
    first_month: str | None = None
    key_fingerprint: str | None = None  # which pseudonym key made the extract's pseudonyms

    @property
    def is_register(self) -> bool:
        return self.source.startswith("register")

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def arrival_key(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) or "" for name in ARRIVAL_ORDER)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LedgerRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def record_path(settings: Settings, submission_id: str) -> Path:
    return settings.ledger / f"{submission_id}.json"


def read_record(settings: Settings, submission_id: str) -> LedgerRecord | None:
    path = record_path(settings, submission_id)
    if not path.exists():
        return None
    return LedgerRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


def write_record(settings: Settings, record: LedgerRecord) -> None:
    atomic_write_text(record_path(settings, record.submission_id),
                      json.dumps(record.to_dict(), ensure_ascii=False, default=str) + "\n")


def all_records(settings: Settings) -> list[LedgerRecord]:
    if not settings.ledger.exists():
        return []
    records = []
    for path in sorted(settings.ledger.glob("*.json")):
        text = path.read_text(encoding="utf-8").strip()
        if text:
            records.append(LedgerRecord.from_dict(json.loads(text)))
    return records


def latest(records: list[LedgerRecord]) -> LedgerRecord | None:
    return max(records, key=LedgerRecord.arrival_key, default=None)


def superseded_by(record: LedgerRecord, records: list[LedgerRecord]) -> LedgerRecord | None:
    """The first accepted submission that replaces `record`: for a survey file one for the same federation and
    period that arrived no earlier (arrival order), for a register extract one of the same kind; or None.

    "No earlier" is by time only: the stamps are whole seconds, and of two files seen and ingested in the
    same second neither came first (the id, arrival order's last tie-break, is a hash and says nothing)."""
    def arrived(r: LedgerRecord) -> tuple[str, ...]:
        return r.arrival_key()[:-1]

    later = [r for r in records if r.accepted and r.submission_id != record.submission_id
             and r.source == record.source and arrived(r) >= arrived(record)
             and (record.is_register or (r.federation_code, r.period) == (record.federation_code, record.period))]
    return min(later, key=LedgerRecord.arrival_key, default=None)


def last_record_named(settings: Settings, file_name: str, *, register: bool) -> LedgerRecord | None:
    """The latest record of a file that arrived under this name (survey or register)."""
    return latest([r for r in all_records(settings) if r.file_name == file_name and r.is_register == register])
