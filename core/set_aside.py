"""Submissions an operator has set aside: accepted, but left out of every build until released.

`nns quarantine SUBMISSION --why "…"` writes `<home>/lake/set_aside/<submission_id>.json`
(one JSON object on one line, written atomically): who set it aside, when and why.
`nns quarantine --release SUBMISSION` rewrites the same record as released (who and
when), so the history stays and the step is reversible. The ledger record itself is
never changed: the set-aside is a separate fact about it.

dbt reads the folder as a source (`models/staging/ledger`); `stg_ledger__submissions`
gives a set-aside submission the status `set_aside`, and every staging view of the
lake leaves its rows out (macro `not_set_aside`), so no model, no dbt data test and
no quality-gate suite sees them.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core import ledger
from core.files import atomic_write_text
from core.settings import Settings

SET_ASIDE, RELEASED = "set_aside", "released"
MIN_PREFIX = 8  # an operator may type the first characters of an id, as `nns status` shows them


class UnknownSubmission(ValueError):
    """No ledger record matches, or a prefix matches more than one."""


@dataclass
class SetAside:
    submission_id: str
    state: str  # set_aside | released
    why: str
    set_aside_by: str
    set_aside_at: str  # UTC, as the ledger's time stamps
    released_by: str | None = None
    released_at: str | None = None
    federation_code: str | None = None
    period: str | None = None
    file_name: str | None = None

    @property
    def active(self) -> bool:
        return self.state == SET_ASIDE


def folder(settings: Settings) -> Path:
    return settings.set_aside


def record_path(settings: Settings, submission_id: str) -> Path:
    return folder(settings) / f"{submission_id}.json"


def operator() -> str:
    """Who is acting: NNS_OPERATOR if set, else the login name."""
    try:
        return os.environ.get("NNS_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in a container
        return "unknown"


def resolve(settings: Settings, given: str) -> ledger.LedgerRecord:
    """The ledger record an operator means: a full id or a unique prefix of at least MIN_PREFIX."""
    given = given.strip().lower()
    if len(given) < MIN_PREFIX:
        raise UnknownSubmission(f"give at least {MIN_PREFIX} characters of the submission id")
    matches = [r for r in ledger.all_records(settings) if r.submission_id.startswith(given)]
    if not matches:
        raise UnknownSubmission(f"no submission {given} in the ledger")
    if len(matches) > 1:
        raise UnknownSubmission(f"{given} matches {len(matches)} submissions: give more characters")
    return matches[0]


def read(settings: Settings, submission_id: str) -> SetAside | None:
    path = record_path(settings, submission_id)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return SetAside(**{k: v for k, v in data.items() if k in {f.name for f in fields(SetAside)}})


def _write(settings: Settings, entry: SetAside) -> None:
    atomic_write_text(record_path(settings, entry.submission_id),
                      json.dumps(asdict(entry), ensure_ascii=False) + "\n")


def set_aside(settings: Settings, given: str, why: str, *, by: str | None = None) -> SetAside:
    """Set a submission aside (again, if it was released); the reason is required."""
    why = " ".join(why.split())
    if not why:
        raise ValueError("say why the submission is set aside (--why)")
    record = resolve(settings, given)
    entry = SetAside(record.submission_id, SET_ASIDE, why, by or operator(), ledger.now_utc(),
                     federation_code=record.federation_code, period=record.period or record.extract_month,
                     file_name=record.file_name)
    _write(settings, entry)
    return entry


def release(settings: Settings, given: str, *, by: str | None = None) -> SetAside:
    """Take a set-aside submission back into the builds; the record keeps who set it aside and why."""
    record = resolve(settings, given)
    entry = read(settings, record.submission_id)
    if entry is None or not entry.active:
        raise UnknownSubmission(f"submission {record.submission_id[:12]} is not set aside")
    entry.state, entry.released_by, entry.released_at = RELEASED, by or operator(), ledger.now_utc()
    _write(settings, entry)
    return entry


def all_entries(settings: Settings) -> list[SetAside]:
    if not folder(settings).exists():
        return []
    entries = [read(settings, p.stem) for p in sorted(folder(settings).glob("*.json"))]
    return [e for e in entries if e is not None]


def active(settings: Settings) -> list[SetAside]:
    return [e for e in all_entries(settings) if e.active]
