"""The staged candidate: the one protected file a build writes, for the gate to judge and
promotion to rename.

`publication.stage` writes it (`publish/.candidate-<id>.duckdb`, never read by analysts) and
records it in `quality/candidate.json`: the file, its checksum (publication.checksum), the
threshold and method it was protected with, and the identity of the warehouse it was built
from (warehouse.identity). The gate reads the record and judges the file; `publication.promote`
renames it only if the gate passed that file and nothing has changed since. This module only
reads: it is what the gate may import.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.settings import Settings

CANDIDATE_PREFIX = ".candidate-"


class PublicationRefused(RuntimeError):
    """Nothing was published (the last published database stays); the message says why."""


@dataclass(frozen=True)
class Candidate:
    name: str  # the file's name in publish/
    checksum: str
    threshold: int
    method: str
    warehouse: dict | None  # warehouse.identity when it was staged
    staged_at: str

    def path(self, settings: Settings) -> Path:
        return settings.publish / self.name

    def to_dict(self) -> dict:
        return asdict(self)


def read_staged(settings: Settings) -> Candidate | None:
    """The candidate staged since the last publication, if any."""
    path = settings.candidate_record
    if not path.exists():
        return None
    return Candidate(**json.loads(path.read_text(encoding="utf-8")))
