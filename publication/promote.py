"""Promote: rename the candidate the gate passed over publish/marts.duckdb, or refuse.

Only if the gate's verdict names the staged candidate with the same checksum, the file is
still that (its checksum again), the threshold and method are today's, and the warehouse has
not been rebuilt since it was staged (warehouse.identity). It protects nothing again: what is
published is exactly what the gate passed. A reader always sees the last complete build; a
refused promotion publishes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from core.crash_points import checkpoint
from core.files import replace_durably
from core.settings import Settings
from core.swedish import SUPPRESSED
from publication.candidate import PublicationRefused, read_staged
from publication.checksum import published_checksum
from warehouse.identity import warehouse_identity

log = logging.getLogger(__name__)

NOT_GATED = "No candidate has passed the quality gate since the last publication: run the gate (nns build)"


def promote(settings: Settings, gated: dict | None) -> Path:
    """`gated`: the candidate the last gate passed ({"candidate", "checksum"}), None if it passed none."""
    target = settings.published_database
    staged = read_staged(settings)
    if staged is None:
        raise PublicationRefused(f"{NOT_GATED}; nothing published")
    candidate = staged.path(settings)
    if not candidate.exists():
        if target.exists() and published_checksum(target) == staged.checksum:
            settings.candidate_record.unlink(missing_ok=True)  # promoted already; stopped before tidying
            return target
        raise PublicationRefused(f"The staged candidate {staged.name} is gone; nothing published")
    if not gated or gated.get("candidate") != staged.name or gated.get("checksum") != staged.checksum:
        raise PublicationRefused(f"{NOT_GATED}; nothing published")
    if staged.threshold != settings.disclosure_threshold:
        raise PublicationRefused(f"The candidate was gated at threshold {staged.threshold}, not "
                                 f"{settings.disclosure_threshold}; run the gate again; nothing published")
    if staged.method != settings.disclosure_method:
        raise PublicationRefused(f"The candidate was gated with NNS_DISCLOSURE_METHOD={staged.method}, not "
                                 f"{settings.disclosure_method}; run the gate again; nothing published")
    if warehouse_identity(settings) != staged.warehouse:
        raise PublicationRefused("The warehouse has been rebuilt since the quality gate passed; the candidate "
                                 "is not what it holds now. Run the gate again; nothing published")
    if published_checksum(candidate) != staged.checksum:
        raise PublicationRefused(f"{candidate.name} has changed since the quality gate passed it; "
                                 "nothing published")
    checkpoint("publish.before_replace")
    replace_durably(candidate, target)  # readers see the old file or the new, never half
    checkpoint("publish.after_replace")
    settings.candidate_record.unlink(missing_ok=True)
    Path(f"{candidate}.wal").unlink(missing_ok=True)  # a reader's leftover, if any
    with duckdb.connect(str(target), read_only=True) as con:
        suppressed = sum(con.execute(f"select count(*) filter (where status = '{SUPPRESSED}') from {name}"
                                     ).fetchone()[0] for (name,) in con.execute(
            "select table_name from duckdb_columns() where column_name = 'status'").fetchall())
    log.info("Published %s (%d suppressed cells)", target, suppressed)
    return target
