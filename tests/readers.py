"""An analyst in another process, reading publish/marts.duckdb over and over.

Each read opens the file read-only, checksums every table (publication.checksum) and
closes it; any exception is a failure. The tests compare the checksums seen with
the builds they know, so a half-written or mixed database would show up as an
unknown checksum, and a vanished or locked file as a failure.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path


def _read_loop(path: str, ready, stop, results) -> None:
    from publication.checksum import published_checksum

    seen: Counter = Counter()
    failures: list[str] = []
    while True:
        try:
            seen[published_checksum(Path(path))] += 1
        except Exception as exc:  # noqa: BLE001 - any failure of a reader counts
            failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        ready.set()
        if stop.is_set():
            break
        time.sleep(0.05)  # leave the machine's two cores some room for the build being watched
    results.put((dict(seen), failures))


class ReaderLoop:
    """with ReaderLoop(path) as reader: ...; then reader.seen (checksum -> reads) and reader.failures."""

    def __init__(self, path: Path):
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop, self._results = context.Event(), context.Event(), context.Queue()
        self._process = context.Process(target=_read_loop, args=(str(path), self._ready, self._stop, self._results))
        self.seen: dict[str, int] = {}
        self.failures: list[str] = []
        self.seconds = 0.0

    def __enter__(self) -> ReaderLoop:
        self._process.start()
        assert self._ready.wait(120), "the reader never completed a first read"
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self.seen, self.failures = self._results.get(timeout=120)
        self._process.join(30)
        self.seconds = time.monotonic() - self._started

    @property
    def reads(self) -> int:
        return sum(self.seen.values()) + len(self.failures)
