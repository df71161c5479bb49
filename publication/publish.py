"""Publishing the analyst database, publish/marts.duckdb: stage, gate, promote.

1. Stage: `stage_candidate` protects every table (publication.disclosure) and writes
   them once, as `publish/.candidate-<id>.duckdb` (never read by analysts).
2. Gate: the quality gate validates that exact file (including the attacker's audit,
   publication.attack) and, if it passes, `record_gated` writes the gate's record
   (`quality/candidate.json`): the file, its publication.checksum, the threshold, and the
   identity of the warehouse it was built from.
3. Promote: `publish` renames the candidate over publish/marts.duckdb, only if the
   record exists, the file's checksum still matches, and the warehouse has not been
   rebuilt since the gate (same identity). It protects nothing again.

A reader always sees the last complete build; a failed gate publishes nothing.
Only aggregated, protected tables are written; person-level data stays in the
warehouse.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.catalogue import NATION
from core.crash_points import checkpoint
from core.files import atomic_write_json, replace_durably
from core.settings import Settings
from publication.attack import ATTACKED_COUNT, InconsistentPublication, attack_tables
from publication.checksum import published_checksum
from publication.ckm import CKM, keys_made_under, perturb, perturbed_tables
from publication.disclosure import SHOWN, SUPPRESSED, apply
from publication.linked import linked_system, split
from publication.specs import COUNT_COLUMNS, PUBLISHED

log = logging.getLogger(__name__)

class PublicationRefused(RuntimeError):
    """The new database failed the disclosure audit; the old one stays."""


def _mean_half_up(shares: pd.Series) -> float:
    """The mean of 4-decimal shares, rounded half up to 4 decimals exactly (docs/analysts.md, Rounding):
    in whole ten-thousandths, so a tie is never lost to binary floating point."""
    shares = shares.dropna()  # a shown cell with n = 0 has no share
    if shares.empty:
        return np.nan
    units = (shares * 10_000).round().astype("int64")
    total, count = int(units.sum()), len(units)
    return ((2 * total + count) // (2 * count)) / 10_000


def _results_extras(df: pd.DataFrame) -> pd.DataFrame:
    """National comparison columns, from the protected national rows only."""
    cell = ["period", "respondent_group", "indicator_id", "gender"]
    national = df[df.federation_code == NATION].set_index(cell)
    df = df.drop(columns=["national_positive_share", "national_mean_score"], errors="ignore")
    df = df.join(national[["positive_share", "mean_score"]].rename(
        columns={"positive_share": "national_positive_share", "mean_score": "national_mean_score"}), on=cell)
    # The unweighted mean of the federations shown, on the national rows.
    shown = df[(df.federation_code != NATION) & (df.status == SHOWN)]
    means = shown.groupby(cell)["positive_share"].agg(_mean_half_up).rename("federations_mean_share")
    df = df.join(means, on=cell)
    df.loc[df.federation_code != NATION, "federations_mean_share"] = np.nan
    return df


MAX_ROUNDS = 30


def _protect_all(frames: dict[str, pd.DataFrame], reporting: dict[str, str], threshold: int,
                 forced: dict[str, np.ndarray], minimum_loss: bool = True) -> dict[str, np.ndarray]:
    system, offsets = linked_system(frames, reporting)
    forced_rows = np.zeros(len(system.counts), dtype=bool)
    for name, offset in offsets.items():
        forced_rows[offset: offset + len(frames[name])] = forced[name]
    return split(system.protect(threshold, forced_rows, minimum_loss), frames, offsets)


def _assemble(frames: dict[str, pd.DataFrame], hidden: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    tables = {}
    for table in PUBLISHED:
        if table.name not in frames:
            continue
        df = frames[table.name]
        if table.protected:
            df = apply(df, hidden[table.name], table.nulled)
        if table.name == "indicator_results":
            df = _results_extras(df)
        tables[table.name] = df[table.columns + (["status"] if table.protected else [])]
    return tables


def read_marts(warehouse: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every published table's source in the warehouse, and which federation each reports as."""
    with duckdb.connect(str(warehouse), read_only=True) as source:
        frames = {t.name: source.sql(f"select * from {t.source}").df(date_as_object=True) for t in PUBLISHED}
        reporting = dict(source.execute(
            "select federation_code, reporting_federation_code from marts.dim_federations").fetchall())
    return frames, reporting


def build_tables(warehouse: Path, threshold: int, method: str = "suppression") -> dict[str, pd.DataFrame]:
    """The protected tables: margins and shared cells first, then until the attacker recovers nothing.

    Under NNS_DISCLOSURE_METHOD=ckm the register tables are perturbed instead (publication.ckm)
    and the rest is protected without them.

    Each round protects every table (publication.disclosure), then runs the attacker's
    audit (publication.attack) over the tables as they would be published; for each
    finding the smallest shown count in the relations that pin it is hidden too (or,
    where those have none, in the hardest-pinning relations of the next ring out), and
    the margins are protected again around it.
    """
    frames, reporting = read_marts(warehouse)
    perturbed = perturb({t: frames.pop(t) for t in perturbed_tables(method)}, threshold)
    return protect_frames(frames, reporting, threshold) | perturbed


def in_key_order(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each table sorted by its keys: the row order protection and publication use."""
    spec = {t.name: t for t in PUBLISHED}
    return {name: df.sort_values(spec[name].keys or spec[name].columns[:1]).reset_index(drop=True)
            for name, df in frames.items()}


def protect_frames(frames: dict[str, pd.DataFrame], reporting: dict[str, str],
                   threshold: int, minimum_loss: bool = True) -> dict[str, pd.DataFrame]:
    """`build_tables` on frames in memory (any subset of the published tables).

    `minimum_loss=False` chooses secondary cells greedily instead (smallest first, under the
    same rules); only the benchmark's comparison (bench.secondary) and tests use it.
    """
    spec = {t.name: t for t in PUBLISHED}
    frames = in_key_order(frames)
    forced = {name: np.zeros(len(df), dtype=bool) for name, df in frames.items() if spec[name].protected}
    for _ in range(MAX_ROUNDS):
        hidden = _protect_all(frames, reporting, threshold, forced, minimum_loss)
        tables = _assemble(frames, hidden)
        try:
            findings = attack_tables(tables, threshold).findings
        except InconsistentPublication as exc:
            # The marts break a documented relation (a faulty build): the gate's checks say where,
            # and its attacker's audit blocks this candidate for the same reason.
            log.warning("Attacker's check skipped: %s", exc)
            return tables
        if not findings:
            return tables
        added = 0
        for finding in findings:
            # The published cells that pin it: its own relations', else the nearest ones further out.
            shown = ([(t, r) for t, r in finding.shown if not hidden[t][r]]
                     or [(t, r) for t, r in finding.further if not hidden[t][r]])
            if not shown:
                continue
            values = [float(np.nan_to_num(frames[t][ATTACKED_COUNT[t]].iat[r])) for t, r in shown]
            order = sorted(range(len(shown)), key=lambda i: (values[i] <= 0, values[i]))
            table, row = shown[order[0]]
            if not forced[table][row]:
                forced[table][row] = True
                added += 1
        if not added:
            break
        for name, mask in hidden.items():  # the next round starts from this one's protection
            forced[name] |= mask
    raise PublicationRefused(f"disclosure control could not protect {len(findings)} cell(s) against the "
                             f"attacker's audit, e.g. {findings[0].label}; refusing to publish")


def _descriptions(settings: Settings) -> dict[str, dict]:
    """Table and column descriptions from dbt's manifest, to store as comments."""
    manifest = settings.home / "dbt_target" / "manifest.json"
    if not manifest.exists():
        return {}
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    return {n["name"]: n for n in nodes.values() if n.get("resource_type") == "model"}


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_database(path: Path, tables: dict[str, pd.DataFrame], settings: Settings, meta: dict) -> None:
    described = _descriptions(settings)
    with duckdb.connect(str(path)) as target:
        for table in PUBLISHED:
            df = tables[table.name]
            target.register("frame", df)
            integer_columns = [c for c in df.columns if c in COUNT_COLUMNS | {
                "versions_received", "federations", "federations_in_period", "indicator_id", "cohort_year",
                "followup_months"}]
            select = ", ".join(f"cast({c} as bigint) as {c}" if c in integer_columns else c for c in df.columns)
            target.execute(f"create table {table.name} as select {select} from frame")
            target.unregister("frame")
            node = described.get(table.source.split(".")[-1], {})
            if node.get("description"):
                target.execute(f"comment on table {table.name} is {_sql_literal(node['description'].strip())}")
            for column, info in node.get("columns", {}).items():
                if column in df.columns and info.get("description"):
                    target.execute(f"comment on column {table.name}.{column} is "
                                   f"{_sql_literal(info['description'].strip())}")
            if "federations_mean_share" in df.columns:
                target.execute(f"comment on column {table.name}.federations_mean_share is 'On national rows: "
                               f"the unweighted mean of the positive shares of the federations shown'")
            if table.name in meta["perturbed_tables"]:
                target.execute(f"comment on column {table.name}.status is 'ok: every count is perturbed "
                               f"(the Cell Key Method), none is suppressed'")
            elif table.protected:
                target.execute(f"comment on column {table.name}.status is "
                               f"'ok, or .. when the cell is suppressed (fewer than {settings.disclosure_threshold} "
                               f"people, or hidden so that such a cell cannot be recovered)'")
        target.execute("create table publication as select * from (values (?, ?, ?, ?, ?, ?)) as t(published_at, "
                       "disclosure_threshold, warehouse_built_at, tables, disclosure_method, perturbed_tables)",
                       [meta["published_at"], meta["threshold"], meta["warehouse_built_at"], meta["tables"],
                        meta["method"], ", ".join(meta["perturbed_tables"])])
        target.execute("checkpoint")


def write_publication(settings: Settings, path: Path) -> dict[str, pd.DataFrame]:
    """Protect the warehouse marts and write them as a new database at `path` (not yet published)."""
    if settings.disclosure_method == CKM:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            if not keys_made_under(con, settings):
                raise PublicationRefused("The warehouse's record keys for the Cell Key Method were made under "
                                         "another NNS_CKM_SECRET: rebuild it with this one (nns build); "
                                         "nothing published")
    tables = build_tables(settings.warehouse, settings.disclosure_threshold, settings.disclosure_method)
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


CANDIDATE_PREFIX = ".candidate-"


def gate_record_path(settings: Settings) -> Path:
    return settings.home / "quality" / "candidate.json"


def warehouse_identity(settings: Settings) -> dict:
    """What the warehouse file is now: any dbt build changes it (size, modification time, WAL)."""
    stat = settings.warehouse.stat()
    wal = Path(f"{settings.warehouse}.wal")
    return {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "inode": stat.st_ino,
            "wal_size": wal.stat().st_size if wal.exists() else 0}


def candidate_path(settings: Settings) -> Path:
    """A new candidate's path, beside the published file (same file system, so promotion is a rename).

    Forgets any earlier candidate and its gate record: the caller (the gate) holds the writer lock.
    """
    settings.publish.mkdir(parents=True, exist_ok=True)
    gate_record_path(settings).unlink(missing_ok=True)
    for old in settings.publish.glob(f"{CANDIDATE_PREFIX}*"):
        old.unlink(missing_ok=True)
    return settings.publish / f"{CANDIDATE_PREFIX}{uuid.uuid4().hex}.duckdb"


def discard_candidate(settings: Settings, candidate: Path) -> None:
    candidate.unlink(missing_ok=True)
    Path(f"{candidate}.wal").unlink(missing_ok=True)


def record_gated(settings: Settings, candidate: Path, warehouse: dict) -> dict:
    """The gate passed `candidate`, built from the warehouse as it was (`warehouse`): record it."""
    record = {"candidate": candidate.name, "checksum": published_checksum(candidate),
              "threshold": settings.disclosure_threshold, "method": settings.disclosure_method, "warehouse": warehouse,
              "gated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write_json(gate_record_path(settings), record)
    return record


def read_gated(settings: Settings) -> dict | None:
    path = gate_record_path(settings)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def publish(settings: Settings) -> Path:
    """Promote the gated candidate to publish/marts.duckdb by an atomic rename, or refuse."""
    target = settings.publish / "marts.duckdb"
    record = read_gated(settings)
    if record is None:
        raise PublicationRefused("No candidate has passed the quality gate since the last publication: "
                                 "run the gate (nns build); nothing published")
    candidate = settings.publish / record["candidate"]
    if not candidate.exists():
        if target.exists() and published_checksum(target) == record["checksum"]:
            gate_record_path(settings).unlink(missing_ok=True)  # promoted already; stopped before tidying
            return target
        raise PublicationRefused(f"The gated candidate {candidate.name} is gone; nothing published")
    if record["threshold"] != settings.disclosure_threshold:
        raise PublicationRefused(f"The candidate was gated at threshold {record['threshold']}, not "
                                 f"{settings.disclosure_threshold}; run the gate again; nothing published")
    if record.get("method", "suppression") != settings.disclosure_method:
        raise PublicationRefused(f"The candidate was gated with NNS_DISCLOSURE_METHOD={record.get('method')}, not "
                                 f"{settings.disclosure_method}; run the gate again; nothing published")
    if warehouse_identity(settings) != record["warehouse"]:
        raise PublicationRefused("The warehouse has been rebuilt since the quality gate passed; the candidate "
                                 "is not what it holds now. Run the gate again; nothing published")
    if published_checksum(candidate) != record["checksum"]:
        raise PublicationRefused(f"{candidate.name} has changed since the quality gate passed it; "
                                 "nothing published")
    checkpoint("publish.before_replace")
    replace_durably(candidate, target)  # readers see the old file or the new, never half
    checkpoint("publish.after_replace")
    gate_record_path(settings).unlink(missing_ok=True)
    with duckdb.connect(str(target), read_only=True) as con:
        existing = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        suppressed = sum(con.execute(f"select count(*) filter (where status = '{SUPPRESSED}') from {t.name}"
                                     ).fetchone()[0] for t in PUBLISHED if t.protected and t.name in existing)
    log.info("Published %s (%d suppressed cells)", target, suppressed)
    return target
