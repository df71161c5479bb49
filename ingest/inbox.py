"""What the inbox may offer ingest: regular, complete files, and when each one arrived.

Nothing the file system says is taken on trust:

- **Only regular files.** A symlink (even to a regular file), a FIFO, a socket, a
  device or a folder is refused with `FILE_NOT_REGULAR` and left where it is: it
  is never opened (a FIFO would block a reader, a symlink could point outside
  the inbox), hashed, archived or deleted.
- **No personnummer in a name.** A name holding one is refused the same way
  (`PERSONAL_NUMBER_IN_NAME`), while listing: the name would otherwise travel as a
  task's argument through Airflow's metadata database. Refusals name the entry by
  its stored name (`stored_name`, the number masked).
- **Only complete files.** A file is taken when its size and modification time
  have been stable for `Settings.stable_seconds` (`NNS_STABLE_SECONDS`, default
  60 s), or when it was renamed into place after its last write (the upload
  convention "write under a temporary name, then rename": a rename changes the
  inode's change time, not its modification time). A file being written under a
  temporary name (`.name`, `~$name`, `*.part`, `*.tmp`, `*.filepart`,
  `*.crdownload`) is not offered at all. "Stable" is judged from the product's
  own observations (`<home>/arrivals/`, one small JSON per inbox name): a modification time in the future, or one
  set back by the sender, cannot make a growing file look finished.
- **Arrival is when the product first saw the file** (`first_seen`, recorded at
  the first listing that saw it, kept in the ledger as `received_at`), and only
  that: the modification time is the sender's to set, backwards as well as
  forwards, so it never decides which file is the later one. A file reprocessed
  in the same data home keeps the arrival its ledger record has
  (`ingest.submission`). See docs/design.md, "Supersession".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.files import atomic_write_json
from core.settings import Settings

from .personnummer import contains_personal_number, redact
from .problems import Problem, problem

IGNORED_PREFIXES = (".", "~$")  # hidden files, Excel/LibreOffice lock files, uploads under a dot name
TEMPORARY_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload", ".partial")


class RefusedFile(Exception):
    """An inbox entry ingest does not take: it is never opened, hashed, archived or removed.

    It carries the problem (code, Swedish message naming the entry by its stored name, and
    what to do), so every place that reports a refusal says the same thing.
    """

    def __init__(self, path: Path, found: Problem):
        super().__init__(f"{found.code}: {found.message} {found.action}")
        self.path = path  # as found; report `name`, never this (it may hold a personnummer)
        self.name = stored_name(path)
        self.problem = found

    @property
    def code(self) -> str:
        return self.problem.code


@dataclass(frozen=True)
class Observation:
    size: int
    mtime_ns: int
    first_seen: float  # when the product first saw the file as it is now (epoch seconds)
    unchanged_since: float  # when the product first saw this size and modification time (the same moment)


def is_temporary(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES) or name.lower().endswith(TEMPORARY_SUFFIXES)


FOLDER = "en mapp"


def file_kind(path: Path) -> str | None:
    """None for a regular file; otherwise what it is, in the words of FILE_NOT_REGULAR (never follows
    a symlink)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "en symbolisk länk"
    if stat.S_ISFIFO(mode):
        return "en namngiven pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "en socket"
    if stat.S_ISDIR(mode):
        return FOLDER
    return "en enhet eller en annan specialfil"


def refusal(path: Path) -> RefusedFile | None:
    """Why ingest must not take this inbox entry, or None. Looks at the entry, never into it.

    A name holding a personnummer is refused here, before anything is listed, so that the
    name never reaches an Airflow task's argument (XCom), a log or the ledger.
    """
    kind = file_kind(path)
    if kind is not None:
        return RefusedFile(path, problem("FILE_NOT_REGULAR", name=stored_name(path), kind=kind))
    if contains_personal_number(path.name):
        return RefusedFile(path, problem("PERSONAL_NUMBER_IN_NAME", name=stored_name(path)))
    return None


def check(path: Path) -> None:
    """Raise the entry's RefusedFile, if ingest must not take it."""
    if (refused := refusal(path)) is not None:
        raise refused


def _state_path(settings: Settings, path: Path) -> Path:
    key = hashlib.sha256(f"{path.parent.name}/{path.name}".encode("utf-8", "surrogateescape")).hexdigest()
    return settings.arrivals / f"{key}.json"


def observe(path: Path, settings: Settings, now: float | None = None) -> Observation:
    """Record (or read) what the product has seen of this file; never opens it."""
    now = time.time() if now is None else now
    st = os.lstat(path)
    state = _state_path(settings, path)
    previous = None
    try:
        previous = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous and previous.get("size") == st.st_size and previous.get("mtime_ns") == st.st_mtime_ns:
        return Observation(st.st_size, st.st_mtime_ns, previous["first_seen"], previous["unchanged_since"])
    # New bytes under a known name (a file still growing, or one replaced) are first seen now.
    first_seen = now
    observation = Observation(st.st_size, st.st_mtime_ns, first_seen, now)
    with contextlib.suppress(OSError):  # a read-only home: judged on this observation alone
        atomic_write_json(state, {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "first_seen": first_seen,
                                  "unchanged_since": now})
    return observation


def is_complete(path: Path, settings: Settings, now: float | None = None) -> bool:
    """Stable for `stable_seconds`, or renamed into place after its last write."""
    now = time.time() if now is None else now
    st = os.lstat(path)
    seen = observe(path, settings, now)
    if settings.stable_seconds <= 0:
        return True
    if st.st_ctime_ns > st.st_mtime_ns:
        return True  # renamed (or moved, or touched) into place after its last write: a write sets both
    mtime = st.st_mtime_ns / 1e9
    if mtime <= now and now - mtime >= settings.stable_seconds:
        return True  # untouched for the interval (a modification time in the future never counts)
    return now - seen.unchanged_since >= settings.stable_seconds


def arrival_time(path: Path, settings: Settings) -> str:
    """`received_at`: when the product first saw the file as it is now (never its modification time)."""
    return datetime.fromtimestamp(int(observe(path, settings).first_seen), UTC).isoformat(timespec="seconds")


def forget(path: Path, settings: Settings) -> None:
    """The file has left the inbox: a new file under the same name is a new arrival."""
    _state_path(settings, path).unlink(missing_ok=True)


def _entries(folder: Path) -> list[tuple[Path, RefusedFile | None]]:
    """Each entry ingest considers in `folder` (not temporary, not a real subfolder), sorted by
    name, with its refusal or None."""
    if not folder.exists():
        return []
    entries = []
    for path in sorted(folder.iterdir()):
        if is_temporary(path.name):
            continue
        try:
            if file_kind(path) == FOLDER:
                continue  # inbox/register/ and the like are listed on their own
            entries.append((path, refusal(path)))
        except FileNotFoundError:
            continue  # gone between listing and looking
    return entries


def offered(folder: Path, settings: Settings) -> list[Path]:
    """Complete files ingest may take from `folder`, sorted by name (records each sighting)."""
    return [path for path, refused in _entries(folder) if refused is None and is_complete(path, settings)]


def refused(folder: Path) -> list[RefusedFile]:
    """Entries of `folder` that ingest refuses and leaves where they are (touches nothing)."""
    return [entry for _, entry in _entries(folder) if entry is not None]


MAX_STORED_NAME = 120  # characters; with the feedback page's suffix it stays far below NAME_MAX (255 bytes)


def shown_name(path: Path) -> str:
    """The file name as a line of output shows it: any personnummer masked, control characters (a
    newline) shown as `?`, and nothing shortened, so that an operator can find the file by it."""
    name = redact(Path(path).name)
    return "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in name)


def stored_name(path: Path) -> str:
    """The file name as the ledger, quarantine, feedback and logs keep it.

    The shown name (`shown_name`; a slash never, it cannot be in a name), and a long name
    shortened in the middle with an ellipsis so that every file made from it can be written.
    """
    name = shown_name(path)
    if len(name) > MAX_STORED_NAME or len(name.encode("utf-8")) > 2 * MAX_STORED_NAME:
        stem, suffix = name[:-len(Path(name).suffix) or None], Path(name).suffix[:10]
        name = stem[:MAX_STORED_NAME // 2 - 10] + "…" + stem[-20:] + suffix
    return name
