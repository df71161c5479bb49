"""The published database as PxWeb tables (cubes), over the one reader (publication.reader).

Every table in the file is served as a PxWeb table (a `Cube`): its row key is the dimensions
(publication.spec: `cube_keys` where a key follows from another), its other columns the
contents (PxWeb's ContentsCode). A number is a content, and so is a yes/no column (1 = ja,
0 = nej). A protected table is a statistic: its text columns are labels of its keys
(federation_name) or only in the row formats. Any other table (the catalogue,
collection_freshness, publication) is served whole: each text that occurs in a text column is
a content of its own, `column.digest`, labelled "column: text", whose value is the number of
rows (0 or 1) holding that text there.

Table and column names come only from the spec and the file's own columns; request values
are bound as parameters, never spliced into SQL. Labels, units and decimals are the spec's;
the labels of codes are the reader's (the catalogue tables in the file).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from publication.reader import PublishedDatabase, open_published, quoted
from publication.spec import COLUMNS, TEXT, YES_NO, PublishedTable, Unit

CONTENTS = "ContentsCode"  # the contents variable's code, as at Statistics Sweden
CONTENTS_LABEL = ("tabellinnehåll", "contents")
NUMERIC_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "DOUBLE",
                 "FLOAT", "DECIMAL", "REAL")
TIME_DIMENSIONS = ("period", "cohort_year")
GEO_DIMENSIONS = ("federation_code",)
ROWS = Unit("antal rader (0 eller 1)", "rows (0 or 1)", 0)  # a text's content: does the row hold this text?
UNLABELLED = Unit("", "", 2)
# The status of a protected table's row as a number, so that clients that read values only (pxwebpy) keep it.
SUPPRESSED_CONTENT = "suppressed"
SUPPRESSED_LABEL = ("Skyddad av röjandekontroll (..)", "Suppressed by disclosure control (..)")
# The catalogue's value sets, PxWeb codelists a request may apply to a variable: id -> (variable, table, query for
# code and Swedish label). A value set holds the catalogue's codes only, never a total (RIKET, alla).
VALUE_SETS = {
    "vs_federation_code": ("federation_code", "federations",
                           "select federation_code, federation_name from federations order by federation_code"),
    "vs_indicator_id": ("indicator_id", "indicators",
                        "select cast(indicator_id as varchar), arg_max(indicator_title, valid_from) from indicators "
                        "group by indicator_id order by indicator_id"),
    "vs_question_code": ("question_code", "questions",
                         "select question_code, arg_max(question_text, valid_from) from questions "
                         "group by question_code order by question_code"),
    "vs_support_at_start": ("support_at_start", "support_categories",
                            "select category, label_sv from support_categories order by tie_priority"),
    "vs_support_at_end": ("support_at_end", "support_categories",
                          "select category, label_sv from support_categories order by tie_priority"),
}


def dimension_label(code: str) -> tuple[str, str]:
    if code == CONTENTS:
        return CONTENTS_LABEL
    column = COLUMNS.get(code)
    return column.label if column else (code, code)


@dataclass
class Dimension:
    code: str
    label: tuple[str, str]
    values: list[str]  # value codes, in order
    labels: dict[str, tuple[str, str]]  # code -> (sv, en)
    elimination_value: str | None = None  # the total a request may leave out (gender T, RIKET, alla)
    units: dict[str, Unit] = field(default_factory=dict)  # contents only
    codelists: list[str] = field(default_factory=list)  # the value sets (VALUE_SETS) a request may apply

    def label_of(self, code: str, lang: str) -> str:
        sv, en = self.labels.get(code, (code, code))
        return en if lang == "en" else sv


@dataclass
class Cube:
    spec: PublishedTable
    dimensions: list[Dimension]  # the row key, then ContentsCode
    column_types: dict[str, str]
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # a text's content code -> (column, text)
    default: dict[str, list[str]] = field(default_factory=dict)  # what /data gives without a selection

    @property
    def id(self) -> str:
        return self.spec.name

    @property
    def contents(self) -> Dimension:
        return self.dimensions[-1]

    def dimension(self, code: str) -> Dimension | None:
        """A variable by its code; as PxWebApi, ignoring case, and `time` names the time variable."""
        found = next((d for d in self.dimensions if d.code == code), None)
        if found is None and code.casefold() == "time":
            return self.time
        return found or next((d for d in self.dimensions if d.code.casefold() == code.casefold()), None)

    @property
    def time(self) -> Dimension | None:
        """The period or cohort; None in a table without one (the catalogue)."""
        return next((d for d in self.dimensions if d.code in TIME_DIMENSIONS), None)

    @property
    def first_period(self) -> str | None:
        """The first time value; None without a time variable or while the table is empty."""
        return self.time.values[0] if self.time and self.time.values else None

    @property
    def last_period(self) -> str | None:
        return self.time.values[-1] if self.time and self.time.values else None

    def label(self, lang: str) -> str:
        return self.spec.label_in(lang) or self.id


def text_of(value) -> str | None:
    """A text column's value as the API shows it: lists joined with ", ", times in UTC (ISO 8601)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(text_of(v)) for v in value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def text_code(column: str, text: str) -> str:
    """The content code of a text in a column: stable from build to build, and safe in a selection."""
    return f"{column}.{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}"


def reference_period(code: str, dimension: str) -> str:
    """The exact period a time code covers, in Swedish (the refperiod of PxWeb's metadata)."""
    if dimension == "period":
        start = int(code[:4])
        return f"1 november {start} – 31 oktober {start + 1}"
    return f"insatser som avslutades 1 januari – 31 december {code}"


class Cubes:
    """The cubes of one build of the published database, built on first use."""

    def __init__(self, db: PublishedDatabase):
        self.db = db
        self._lock = threading.Lock()
        self._cubes: dict[str, Cube] = {}
        self._value_sets: dict[str, tuple[str, list[tuple[str, str]]]] = {}

    @property
    def tables(self) -> list[PublishedTable]:
        return self.db.tables

    def cube_ids(self) -> list[str]:
        return [t.name for t in self.db.tables if t.dimensions]

    def value_set(self, codelist: str) -> tuple[str, list[tuple[str, str]]] | None:
        """A codelist's variable and its (code, label) pairs; None when it is unknown or its table is not published."""
        if codelist not in VALUE_SETS or not self.db.has(VALUE_SETS[codelist][1]):
            return None
        with self._lock:
            if codelist not in self._value_sets:
                variable, _, sql = VALUE_SETS[codelist]
                self._value_sets[codelist] = (variable, [(code, label or code) for code, label in self.db.query(sql)])
            return self._value_sets[codelist]

    def cube(self, table: str) -> Cube | None:
        spec = self.db.spec(table)
        if spec is None or not spec.dimensions:
            return None
        with self._lock:
            if table not in self._cubes:
                self._cubes[table] = self._build_cube(spec)
            return self._cubes[table]

    def _kind(self, spec: PublishedTable, column: str) -> str:
        """How a non-key column is served: 'number', 'yes/no', 'text' (unprotected tables) or '' (not served)."""
        dtype = self.db.columns[spec.name][column]
        if dtype.startswith(NUMERIC_TYPES):
            return "number"
        if dtype == "BOOLEAN":
            return "yes/no"
        return "" if spec.protected else "text"

    def _content_columns(self, spec: PublishedTable) -> list[str]:
        """The served non-key columns in the table's order (not status, nor a protected table's full grain)."""
        skip = set(spec.dimensions) | set(spec.keys) | {"status"}
        return [c for c in self.db.columns[spec.name] if c not in skip and self._kind(spec, c)]

    def _build_cube(self, spec: PublishedTable) -> Cube:
        types = self.db.columns[spec.name]
        totals = {m.part: m.total for m in spec.margins}
        dimensions = []
        for key in spec.dimensions:
            numeric = types[key].startswith(NUMERIC_TYPES)
            rows = self.db.query(f"select distinct cast({quoted(key)} as varchar), {quoted(key)} "
                                 f"from {quoted(spec.name)} order by {quoted(key)}")
            values = [r[0] for r in rows]
            if numeric:
                values = [r[0] for r in sorted(rows, key=lambda r: r[1])]
            if key in totals and totals[key] in values:  # the total first, as PxWeb sites do
                values = [totals[key]] + [v for v in values if v != totals[key]]
            labels = {v: (self.db.label(key, v), self.db.label(key, v, "en")) for v in values}
            codelists = [c for c, (variable, table, _) in VALUE_SETS.items() if variable == key and self.db.has(table)]
            dimensions.append(Dimension(key, dimension_label(key), values, labels, totals.get(key),
                                        codelists=codelists))
        codes, labels, units, texts = [], {}, {}, {}
        for column in self._content_columns(spec):
            if self._kind(spec, column) != "text":
                codes.append(column)
                known = COLUMNS.get(column)
                labels[column] = known.label if known else (column, column)
                units[column] = known.unit if known and known.unit is not TEXT else UNLABELLED
                continue
            name = dimension_label(column)
            distinct = {text_of(v) for v in self.db.arrow(f"select distinct {quoted(column)} from {quoted(spec.name)}")
                        .column(0).to_pylist()} - {None}
            for text in sorted(distinct):
                code = text_code(column, text)
                codes.append(code)
                labels[code] = (f"{name[0]}: {text}", f"{name[1]}: {text}")
                units[code] = ROWS
                texts[code] = (column, text)
        if spec.protected and "status" in types:
            codes.append(SUPPRESSED_CONTENT)
            labels[SUPPRESSED_CONTENT] = SUPPRESSED_LABEL
            units[SUPPRESSED_CONTENT] = YES_NO
        dimensions.append(Dimension(CONTENTS, CONTENTS_LABEL, codes, labels, units=units))
        cube = Cube(spec, dimensions, dict(types), texts)
        cube.default = self._default_selection(cube)
        return cube

    def _default_selection(self, cube: Cube) -> dict[str, list[str]]:
        """What /data gives without a selection: the latest time value, the totals where a variable has one, and for
        the other variables only combinations that are rows of the table: each but the last fixed at its first value
        that has rows, the last every value that has rows with those (so never a cube of impossible pairs, such as
        an indicator in a questionnaire that does not measure it). ContentsCode is every content."""
        fixed: dict[str, str] = {}
        if cube.time and cube.time.values:
            fixed[cube.time.code] = cube.time.values[-1]
        free = []
        for dim in cube.dimensions[:-1]:
            if dim.code in fixed:
                continue
            if dim.elimination_value is not None and dim.elimination_value in dim.values:
                fixed[dim.code] = dim.elimination_value
            else:
                free.append(dim)
        chosen = {code: [value] for code, value in fixed.items()}
        for i, dim in enumerate(free):
            where = " and ".join(f"cast({quoted(code)} as varchar) = ?" for code in fixed) or "true"
            present = {r[0] for r in self.db.query(f"select distinct cast({quoted(dim.code)} as varchar) from "
                                                   f"{quoted(cube.id)} where {where}", list(fixed.values()))}
            values = [v for v in dim.values if v in present] or dim.values[:1]
            if i < len(free) - 1 and values:
                fixed[dim.code] = values[0]
                chosen[dim.code] = values[:1]
            else:
                chosen[dim.code] = values
        chosen[CONTENTS] = list(cube.contents.values)
        return {d.code: chosen[d.code] for d in cube.dimensions if d.code in chosen}


_current: Cubes | None = None
_current_lock = threading.Lock()


def open_cubes(path: Path) -> Cubes:
    """The cubes of the current build at `path` (publication.reader.open_published decides when it is new)."""
    global _current
    db = open_published(path)
    with _current_lock:
        if _current is None or _current.db is not db:
            _current = Cubes(db)
        return _current
