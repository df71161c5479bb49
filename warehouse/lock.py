"""One writer of warehouse.duckdb and publish/ at a time, whoever starts it.

Airflow's one-slot pool already serialises the DAG's writers; this lock also
covers a hand-run `nns build` and a pool set up wrongly. It is an flock, so the
kernel releases it when the holder dies, even by SIGKILL: no stale locks.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from core.ledger import now_utc
from core.settings import Settings


class BuildFailed(RuntimeError):
    """dbt (or a later build step) failed; the message says which and why."""


class WriterBusy(BuildFailed):
    """Another process is building the warehouse or publishing right now."""


_held: set[Path] = set()  # writer locks this process holds (so `nns build` can hold one across both steps)


@contextmanager
def writer_lock(settings: Settings, step: str):
    """Hold the data home's writer lock for `step`; re-entrant within a process."""
    path = settings.writer_lock
    if path in _held:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip() or "unknown"
            raise WriterBusy(f"Another build is writing now ({holder}); {step} did not start. "
                             f"Wait for it to finish (nns status), then run again.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"step": step, "pid": os.getpid(), "host": socket.gethostname(),
                                  "since": now_utc()}).encode(), 0)
        _held.add(path)
        try:
            yield
        finally:
            _held.discard(path)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
