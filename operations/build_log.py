"""The record of the last build: which step ran, when, where, and how it ended.

`<home>/status/last_build.json` holds one entry per build step, written by the
step itself (through `track`), whichever way it was started (Airflow or the CLI):

    {"updated_at": "...",
     "steps": {"plan":         {"status": "success", ..., "decision": "build: something may have changed"},
               "dbt_build":    {"status": "success", "started_at": "...", "finished_at": "...",
                                "seconds": 41.2, "pid": 123, "host": "worker-1"},
               "stage":        {"status": "success", ..., "candidate": ".candidate-<id>.duckdb", ...},
               "quality_gate": {"status": "failed", ..., "error": "first lines of the reason"},
               "publish":      {"status": "success", ..., "path": "publish/marts.duckdb",
                                "checksum": "<publication.checksum of the published file>"}}}

`status` is running | success | failed. A step that starts drops the entries of
the steps after it (they belonged to the previous build), so the file always
describes one build. A step may add its own fields through the dict `track`
yields. `operations.status` reads it for `nns status`.

A step that fails because the disk is full must still be recorded as failed: a
running step holds a small reserve file (`status/.space-reserve`), which
`record_step` deletes to make room when a write finds no space.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from core.files import atomic_write_json
from core.ledger import now_utc
from core.settings import Settings

STEPS = ("plan", "dbt_build", "stage", "quality_gate", "publish")
ERROR_LINES = 8
RESERVE_BYTES = 256 * 1024  # kept free for the failure record of a step that filled the disk


def status_path(settings: Settings) -> Path:
    return settings.build_log


def read_build_status(settings: Settings) -> dict:
    path = status_path(settings)
    if not path.exists():
        return {"steps": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def reserve_path(settings: Settings) -> Path:
    return settings.space_reserve


def keep_reserve(settings: Settings) -> None:
    """Hold RESERVE_BYTES on the data home's disk (best effort), so that when a step fails because
    the disk is full, its failure can still be recorded: `record_step` frees it to write."""
    path = reserve_path(settings)
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * RESERVE_BYTES)
    except OSError:
        path.unlink(missing_ok=True)  # the disk is already full: nothing to hold


def record_step(settings: Settings, step: str, entry: dict) -> None:
    """Write one step's entry; a step that starts forgets the steps after it."""
    state = read_build_status(settings)
    steps = state.get("steps", {})
    if entry.get("status") == "running" and step in STEPS:
        for later in STEPS[STEPS.index(step) + 1:]:
            steps.pop(later, None)
    steps[step] = entry
    payload = {"updated_at": now_utc(), "steps": steps}
    try:
        atomic_write_json(status_path(settings), payload)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        reserve_path(settings).unlink(missing_ok=True)  # the space kept for this moment
        atomic_write_json(status_path(settings), payload)


def first_lines(exc: BaseException, lines: int = ERROR_LINES) -> str:
    text = str(exc).strip() or type(exc).__name__
    kept = text.splitlines()[:lines]
    return "\n".join(kept)[:2000]


@contextmanager
def track(settings: Settings, step: str):
    """Record a build step as running, then success or failed (with the first lines of why)."""
    started, clock = now_utc(), time.monotonic()
    entry = {"status": "running", "started_at": started, "pid": os.getpid(), "host": socket.gethostname()}
    record_step(settings, step, dict(entry))
    keep_reserve(settings)
    extra: dict = {}
    try:
        yield extra
    except BaseException as exc:
        record_step(settings, step, {**entry, **extra, "status": "failed", "finished_at": now_utc(),
                                     "seconds": round(time.monotonic() - clock, 1), "error": first_lines(exc)})
        raise
    record_step(settings, step, {**entry, **extra, "status": "success", "finished_at": now_utc(),
                                 "seconds": round(time.monotonic() - clock, 1)})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def step_state(entry: dict) -> str:
    """running | success | failed, or interrupted: 'running' by a process on this host that is gone."""
    state = entry.get("status", "unknown")
    if state == "running" and entry.get("host") == socket.gethostname() and not _alive(int(entry.get("pid", 0))):
        return "interrupted"
    return state


def build_summary(settings: Settings) -> dict:
    steps = read_build_status(settings).get("steps", {})
    states = {step: step_state(entry) for step, entry in steps.items()}
    if not states:
        overall = "none"
    elif any(s in ("failed", "interrupted") for s in states.values()):
        overall = "failed"
    elif any(s == "running" for s in states.values()):
        overall = "running"
    else:
        overall = "success"
    ordered = {step: {**steps[step], "status": states[step]}
               for step in sorted(steps, key=lambda s: STEPS.index(s) if s in STEPS else len(STEPS))}
    return {"state": overall, "steps": ordered}
