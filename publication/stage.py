"""Stage: protect every published table and write them once, as the candidate the gate judges.

`stage_candidate` (the caller holds the writer lock) forgets any earlier candidate, protects
the warehouse's marts (publication.protect), writes them as a new DuckDB file beside the
published one (same file system, so promotion is a rename) and records it
(publication.candidate). Columns, types and comments come from publication.spec and dbt's
manifest; only aggregated, protected tables are written, person-level data stays in the
warehouse.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from core.crash_points import checkpoint
from core.files import atomic_write_json
from core.settings import Settings
from publication.candidate import CANDIDATE_PREFIX, Candidate, PublicationRefused
from publication.checksum import published_checksum
from publication.ckm import CKM, keys_made_under, perturbed_tables
from publication.protect import protect_publication
from publication.spec import COLUMNS, PUBLICATION, PUBLISHED, STATUS, published_type, status_comment
from warehouse.identity import warehouse_identity


def _descriptions(settings: Settings) -> dict[str, dict]:
    """Table and column descriptions from dbt's manifest, to store as comments."""
    manifest = settings.dbt_target / "manifest.json"
    if not manifest.exists():
        return {}
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    return {n["name"]: n for n in nodes.values() if n.get("resource_type") == "model"}


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_database(path: Path, tables: dict[str, pd.DataFrame], settings: Settings, meta: dict) -> None:
    """The published tables, typed and commented as publication.spec says, and the publication row."""
    described = _descriptions(settings)
    with duckdb.connect(str(path)) as target:
        for table in PUBLISHED:
            df = tables[table.name]
            target.register("frame", df)
            select = ", ".join(f"cast({c} as {published_type(c)}) as {c}" if published_type(c) else c
                               for c in df.columns)
            target.execute(f"create table {table.name} as select {select} from frame")
            target.unregister("frame")
            node = described.get(table.source.split(".")[-1], {})
            if node.get("description"):
                target.execute(f"comment on table {table.name} is {_sql_literal(node['description'].strip())}")
            columns = node.get("columns", {})
            for column in df.columns:
                text = (columns.get(column) or {}).get("description") or COLUMNS[column].note
                if column == STATUS:
                    text = status_comment(settings.disclosure_threshold, table.name in meta["perturbed_tables"])
                if text:
                    target.execute(f"comment on column {table.name}.{column} is {_sql_literal(text.strip())}")
        values = [meta["published_at"], meta["threshold"], meta["warehouse_built_at"], meta["tables"],
                  meta["method"], ", ".join(meta["perturbed_tables"])]
        target.execute(f"create table {PUBLICATION.name} as select * from (values ({', '.join('?' * len(values))})) "
                       f"as t({', '.join(PUBLICATION.columns)})", values)
        target.execute("checkpoint")


def write_publication(settings: Settings, path: Path) -> dict[str, pd.DataFrame]:
    """Protect the warehouse marts and write them as a new database at `path` (not yet published)."""
    if settings.disclosure_method == CKM:
        if settings.ckm_secret_is_public:
            # The development value is in the source code: noise keyed by it is not secret.
            raise PublicationRefused("The Cell Key Method needs a secret of your own: set NNS_CKM_SECRET (or "
                                     "NNS_CKM_SECRET_FILE) and run nns build; the built-in development value is "
                                     "public. (Or choose NNS_DISCLOSURE_METHOD=suppression.) Nothing published")
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            if not keys_made_under(con, settings):
                raise PublicationRefused("The warehouse's record keys for the Cell Key Method were made under "
                                         "another NNS_CKM_SECRET: rebuild it with this one (nns build); "
                                         "nothing published")
    tables = protect_publication(settings.warehouse, settings.disclosure_threshold, settings.disclosure_method,
                                 settings.ckm_secret)
    meta = {
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": settings.disclosure_threshold,
        "warehouse_built_at": datetime.fromtimestamp(settings.warehouse.stat().st_mtime, UTC)
        .isoformat(timespec="seconds"),
        "tables": ", ".join(t.name for t in PUBLISHED),
        "method": settings.disclosure_method,
        "perturbed_tables": perturbed_tables(settings.disclosure_method),
    }
    write_database(path, tables, settings, meta)
    return tables


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)


def forget_candidates(settings: Settings, keep: str | None = None) -> None:
    """Earlier candidates and files of a killed step (never read by anyone); the caller holds the lock."""
    for old in [*settings.publish.glob(f"{CANDIDATE_PREFIX}*"), *settings.publish.glob(".marts-*.duckdb*")]:
        if keep is None or not old.name.startswith(keep):
            old.unlink(missing_ok=True)


def stage_candidate(settings: Settings) -> Candidate:
    """Write the protected candidate and its record; returns what the gate is to judge."""
    settings.publish.mkdir(parents=True, exist_ok=True)
    settings.candidate_record.unlink(missing_ok=True)
    forget_candidates(settings)
    warehouse = warehouse_identity(settings)  # under the writer lock: nothing rebuilds it meanwhile
    path = settings.publish / f"{CANDIDATE_PREFIX}{uuid.uuid4().hex}.duckdb"
    try:
        write_publication(settings, path)
        checkpoint("stage.written")
        candidate = Candidate(path.name, published_checksum(path), settings.disclosure_threshold,
                              settings.disclosure_method, warehouse,
                              datetime.now(UTC).isoformat(timespec="seconds"))
        atomic_write_json(settings.candidate_record, candidate.to_dict())
    except BaseException:
        discard(path)
        raise
    checkpoint("stage.recorded")
    return candidate
