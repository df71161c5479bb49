"""What the warehouse file is now: the one rule for "has it been rebuilt since?".

Any write (a dbt build, a set-aside applied) changes the file's size or modification
time, or its WAL's size. The inode is left out on purpose: a data home copied whole
(a backup restored, a test's copy) holds the same warehouse. The build plan
(operations.changes), the staged candidate and its promotion (publication) compare
this identity, and nothing else. The published database's identity, kept at publication,
tells the build plan that nobody replaced it since.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings


def file_identity(path: Path) -> dict | None:
    """Size and modification time of a DuckDB file and its WAL; None when there is none."""
    if not path.exists():
        return None
    stat = path.stat()
    wal = Path(f"{path}.wal")
    return {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "wal_size": wal.stat().st_size if wal.exists() else 0}


def warehouse_identity(settings: Settings) -> dict | None:
    """The warehouse file's identity (file_identity)."""
    return file_identity(settings.warehouse)
