"""Atomic file writes: the one way anything in the data home is written.

Every write goes to a hidden temporary name beside its target, is fsynced, and
is renamed over the target; the folder is fsynced after the rename. A crash
leaves the old file or the new one, never half of one. Temporary names start
with a dot and end in `.tmp`, so readers (dbt's globs, the ledger) skip them
and `ingest.lake.sweep_temporaries` can remove what a killed writer left.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes a rename inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(staged: Path, target: Path) -> None:
    """Rename a finished file over `target`: fsync it, rename, fsync the folder."""
    fsync_path(staged)
    os.replace(staged, target)
    fsync_path(target.parent)


@contextmanager
def staged_file(target: Path, *, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside `target` for a writer to fill; renamed over `target` on success.

    For writers that want a path rather than bytes (DuckDB, shutil.copy2).
    On an exception the temporary file is removed and `target` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    staged = Path(name)
    try:
        yield staged
        if mode is not None:
            os.chmod(staged, mode)
        replace_durably(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes, *, mode: int | None = None) -> None:
    with staged_file(target, mode=mode) as staged:
        staged.write_bytes(data)


def atomic_write_text(target: Path, text: str, *, mode: int | None = None) -> None:
    atomic_write_bytes(target, text.encode("utf-8"), mode=mode)


def atomic_write_json(target: Path, payload: dict | list) -> None:
    atomic_write_text(target, json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def atomic_copy(source: Path, target: Path) -> None:
    """Copy a file into place atomically, keeping its modification time."""
    with staged_file(target) as staged:
        shutil.copy2(source, staged)


def atomic_symlink(link: Path, points_to: str) -> None:
    """Make or move a symlink in one rename (readers follow the old target or the new)."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}.link.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(points_to)
    os.replace(temporary, link)
    fsync_path(link.parent)


class StagedDir:
    """Build a folder under a temporary name, then rename it into place."""

    def __init__(self, target: Path):
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))

    def commit(self) -> None:
        for child in self.path.iterdir():
            fsync_path(child)
        if self.target.exists():
            # Reprocessing (force): move the old one aside first, then drop it.
            old = self.target.with_name(f".{self.target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.target, old)
            os.replace(self.path, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.path, self.target)
        fsync_path(self.target.parent)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
