"""The one reader of the published database, with the rules for showing what it holds.

The read API, the exports and the reports read publish/marts.duckdb only through this
module, read-only. It holds:

- **the snapshot**: `open_published(path)` gives a `PublishedDatabase`, cached by the
  file's inode and modification time. A new build is swapped in by rename (a new inode),
  so the next caller sees it without a restart, while a caller already reading finishes
  on the build it started on. DuckDB's per-path instance cache would hand a new
  connection the old build while any connection to it is open, so each snapshot is an
  in-memory database with the file attached read-only;
- **the analyst's connection** (`connect_for_analyst`, `nns sql`): read-only, with DuckDB's
  external access off and the configuration locked, so SQL reaches the published file and nothing else;
- **the build's facts** (`info`): when it was published, the threshold, the method of
  disclosure control and which tables it perturbed, parsed once from the `publication` table;
- **the display rules**: labels, units and decimals (publication.spec), the labels of
  codes from the catalogue tables in the file, what `..` and `.` mean in this build
  (`notes`), and, from core, Swedish numbers and words (core.swedish) and escaping for
  HTML, CSV and spreadsheets (core.escape).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from core.catalogue import NATION
from core.swedish import NO_VALUE, SUPPRESSED
from publication.spec import (
    BY_NAME,
    CKM_LARGEST_CHANGE,
    CKM_NEVER_SHOWN_UP_TO,
    CODE_LABELS,
    COLUMNS,
    PUBLICATION,
    SOURCE,
    TABLES,
    PublishedTable,
)


class NotPublished(Exception):
    """There is no published database yet."""


@dataclass(frozen=True)
class PublicationInfo:
    """The `publication` table's one row: what this build is."""

    published_at: str | None = None
    disclosure_threshold: int | None = None
    warehouse_built_at: str | None = None
    method: str = "suppression"
    perturbed: frozenset[str] = field(default_factory=frozenset)

    @property
    def updated(self) -> str:
        """The publication time in UTC, ISO 8601 with Z (PxWeb's `updated`)."""
        if not self.published_at:
            return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return datetime.fromisoformat(str(self.published_at)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quoted(name: str) -> str:
    """A quoted identifier. Only names from the spec reach here; quoting is a second guard."""
    return '"' + name.replace('"', '""') + '"'


# The catalogue table that names each coded column's values: (table, code column, Swedish label).
CODE_NAMES = {
    "indicator_id": ("indicators", "cast(indicator_id as varchar)", "arg_max(indicator_title, valid_from)"),
    "respondent_group": ("questions", "respondent_group", "any_value(respondent_group_name)"),
    "comparability_key": ("questions", "comparability_key", "arg_max(question_code || ': ' || question_text, "
                                                            "valid_from)"),
    "question_code": ("questions", "question_code", "arg_max(question_text, valid_from)"),
    "support_at_start": ("support_categories", "category", "any_value(label_sv)"),
    "support_at_end": ("support_categories", "category", "any_value(label_sv)"),
    "category": ("support_categories", "category", "any_value(label_sv)"),
    "insats": ("insatser", "insats", "any_value(name_sv)"),
    "end_reason": ("end_reasons", "end_reason", "any_value(label_sv)"),
    "federation_code": ("federations", "federation_code", "any_value(federation_name)"),
}


class PublishedDatabase:
    """One build of the published database, open read-only for as long as it is in use."""

    def __init__(self, path: Path, key: tuple[int, int] | None = None):
        self.path, self.key = Path(path), key
        self._con = duckdb.connect(":memory:")
        self._con.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as pub (read_only)")
        self._lock = threading.Lock()
        self._labels: dict[str, dict[str, tuple[str, str]]] = {}
        self.columns: dict[str, dict[str, str]] = {}
        for table, column, dtype in self.query(
                "select table_name, column_name, data_type from duckdb_columns() "
                "where database_name = 'pub' and schema_name = 'main' order by column_index"):
            self.columns.setdefault(table, {})[column] = dtype
        # Only what the spec describes is served: a table it does not know (`unknown`) is never read
        # (the writer writes none: tests/integration/test_publish.py checks every build's file).
        self.tables: list[PublishedTable] = [t for t in TABLES if t.name in self.columns]
        self.unknown = sorted(set(self.columns) - set(BY_NAME))
        self.info = self._info()

    @classmethod
    def open(cls, path: Path) -> PublishedDatabase:
        if not Path(path).exists():
            raise NotPublished(f"Nothing is published yet: {path} does not exist (run `nns build`).")
        return cls(path)

    def _info(self) -> PublicationInfo:
        if PUBLICATION.name not in self.columns:
            return PublicationInfo()
        have = [c for c in PUBLICATION.columns if c in self.columns[PUBLICATION.name]]
        row = dict(zip(have, self.query(f"select {', '.join(have)} from {PUBLICATION.name}")[0], strict=True))
        listed = row.get("perturbed_tables") or ""
        return PublicationInfo(row.get("published_at"), row.get("disclosure_threshold"),
                               row.get("warehouse_built_at"), row.get("disclosure_method") or "suppression",
                               frozenset(t.strip() for t in listed.split(",") if t.strip()))

    # ---- reading ----
    def _cursor(self):
        cursor = self._con.cursor()
        cursor.execute("use pub")  # each cursor is a connection of its own, starting in memory
        return cursor

    def query(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        cursor = self._cursor()
        try:
            return cursor.execute(sql, params or []).fetchall()
        finally:
            cursor.close()

    def arrow(self, sql: str, params: list | None = None):
        cursor = self._cursor()
        try:
            return cursor.sql(sql, params=params or None).to_arrow_table()
        finally:
            cursor.close()

    def df(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """A query as a DataFrame; `$nation` is the national code (core.catalogue.NATION)."""
        params = dict(params or {})
        if "$nation" in sql:
            params["nation"] = NATION
        cursor = self._cursor()
        try:
            return cursor.execute(sql, params).df()
        finally:
            cursor.close()

    def table_frame(self, name: str) -> pd.DataFrame:
        """A whole published table as it is in the file."""
        return self.df(f"select * from {quoted(self.spec(name).name)}")

    def close(self) -> None:
        self._con.close()

    # ---- the spec of what is in this file ----
    def spec(self, table: str) -> PublishedTable | None:
        """The spec of a table in this file; None for a table it does not hold or the spec does not know."""
        return BY_NAME.get(table) if table in self.columns else None

    def published_columns(self, spec: PublishedTable) -> list[str]:
        """The columns as published, in order (status last on a protected table)."""
        return list(self.columns[spec.name])

    def has(self, table: str) -> bool:
        return table in self.columns and table in BY_NAME

    @property
    def threshold(self) -> int:
        return int(self.info.disclosure_threshold)

    # ---- display rules ----
    def labels_of(self, column: str) -> dict[str, tuple[str, str]]:
        """{code: (Swedish, English)} for a coded column: from the catalogue tables in this file, and
        the codes the spec names (genders, the totals). English is ours where the catalogue has none."""
        with self._lock:
            if column not in self._labels:
                pairs: dict[str, tuple[str, str]] = {}
                if column in CODE_NAMES and CODE_NAMES[column][0] in self.columns:
                    table, code, label = CODE_NAMES[column]
                    pairs = {c: (name, name) for c, name in self.query(
                        f"select {code}, {label} from {table} group by all") if name}
                pairs.update(CODE_LABELS.get(column, {}))
                self._labels[column] = pairs
            return self._labels[column]

    def label(self, column: str, code, lang: str = "sv") -> str:
        """A code's label in `lang`, or the code itself where nothing names it."""
        if column == "followup_months":
            return f"{code} months" if lang == "en" else f"{code} månader"
        sv, en = self.labels_of(column).get(str(code), (str(code), str(code)))
        return en if lang == "en" else sv

    def notes(self, lang: str, table: str) -> list[str]:
        """What a table's symbols mean in this build, and how its counts are protected."""
        threshold = self.info.disclosure_threshold
        if table in self.info.perturbed:
            if lang == "en":
                return [f"Source: {SOURCE}.",
                        f"{SUPPRESSED} = too few to report: fewer than {threshold} people after the perturbation. "
                        f"{NO_VALUE} = no value.",
                        "The counts are perturbed by the Cell Key Method (disclosure control): each is moved at "
                        f"random by a few units (at most {CKM_LARGEST_CHANGE}, on average about 2), so parts need "
                        f"not add up to their totals, and no count from 1 to {CKM_NEVER_SHOWN_UP_TO} is published. "
                        "The same people always get the same perturbation. Shares, means and intervals are computed "
                        "from the perturbed counts."]
            return [f"Källa: {SOURCE}",
                    f"{SUPPRESSED} = för få för att redovisas: färre än {threshold} personer efter justeringen. "
                    f"{NO_VALUE} = uppgift saknas.",
                    "Antalen är slumpmässigt justerade med cell key-metoden (röjandekontroll): varje antal ändras med "
                    f"några enheter (högst {CKM_LARGEST_CHANGE}, i genomsnitt omkring 2), så delarna summerar inte "
                    f"alltid till totalen, och inget antal mellan 1 och {CKM_NEVER_SHOWN_UP_TO} publiceras. Samma "
                    "personer får alltid samma justering. Andelar, medelvärden och intervall räknas på de "
                    "justerade antalen."]
        if lang == "en":
            return [f"Source: {SOURCE}.",
                    f"{SUPPRESSED} = suppressed (fewer than {threshold} people, or hidden so that such a cell "
                    f"cannot be worked out). {NO_VALUE} = no value."]
        return [f"Källa: {SOURCE}",
                f"{SUPPRESSED} = uppgiften är skyddad (färre än {threshold} personer, eller dold så att en sådan "
                f"uppgift inte kan räknas fram). {NO_VALUE} = uppgift saknas."]


# How an analyst's own SQL (`nns sql`) opens the published file: read-only, no file or network outside it (no
# read_csv, COPY … TO, ATTACH or EXPORT), no extensions installed or loaded, and settings that cannot be changed back.
ANALYST_CONFIG = {"enable_external_access": False, "autoinstall_known_extensions": False,
                  "autoload_known_extensions": False, "allow_community_extensions": False, "lock_configuration": True}
# The same for the DuckDB shell: -safe turns off its own file commands (.shell, .output, .read, .import), and the
# settings are locked before the analyst types anything.
ANALYST_SHELL_ARGUMENTS = ["-readonly", "-safe", "-cmd", "SET enable_external_access = false;",
                           "-cmd", "SET lock_configuration = true;"]


def connect_for_analyst(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection for SQL an analyst writes: the published file only, read-only, nothing outside it."""
    if not Path(path).exists():
        raise NotPublished(f"Nothing is published yet: {path} does not exist (run `nns build`).")
    return duckdb.connect(str(path), read_only=True, config=dict(ANALYST_CONFIG))


def column_label(column: str, lang: str = "sv") -> str:
    spec = COLUMNS.get(column)
    if spec is None:
        return column
    return spec.label[1] if lang == "en" else spec.label[0]


_current: PublishedDatabase | None = None
_current_lock = threading.Lock()


def snapshot_key(path: Path) -> tuple[int, int] | None:
    """Which build is published at `path`: the file's inode and modification time (a new build is swapped in by
    rename, a new inode), or None while nothing is published. What `open_published` and the API's cache key on."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def open_published(path: Path) -> PublishedDatabase:
    """The current build at `path`, reopened when the file's inode or mtime changed (an atomic swap)."""
    global _current
    key = snapshot_key(path)
    if key is None:
        raise NotPublished(f"Nothing is published yet: {path} does not exist (run `nns build`).")
    with _current_lock:
        if _current is None or _current.path != Path(path) or _current.key != key:
            # The old snapshot is left to the garbage collector: a request may still be reading it.
            _current = PublishedDatabase(path, key)
        return _current
