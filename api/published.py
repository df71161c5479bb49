"""The published database as the read API and the exports see it: read-only, and as PxWeb tables.

`open_published(path)` gives a `Published` snapshot of `publish/marts.duckdb`, cached by the
file's inode and mtime: a new build swapped in by rename is a new inode, so the next request
sees it without a restart, while requests already running finish on the build they started on.

Every table in the file is served as a PxWeb table (a `Cube`): its row key is the dimensions, its other
columns the contents (PxWeb's ContentsCode). A number is a content, and so is a yes/no column (1 = ja,
0 = nej). A protected table is a statistic: its text columns are labels of its keys (federation_name) or
only in the row formats. Any other table (the catalogue, collection_freshness, publication) is served
whole: each text that occurs in a text column is a content of its own, `column.digest`, labelled
"column: text", whose value is the number of rows (0 or 1) holding that text there.

Table and column names come only from this allow-list (the file's own tables and columns, keyed by
publication/specs.py or ROW_KEYS); request values are bound as parameters, never spliced into SQL.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from core.catalogue import NATION
from publication.specs import PUBLISHED, PublishedTable

CONTENTS = "ContentsCode"  # the contents variable's code, as at Statistics Sweden
SUPPRESSED = ".."  # a value hidden by disclosure control (status '..' in the file)
NO_VALUE = "."  # no value: nobody in the group, or no such combination in the table
SOURCE = "NNS indikatorarbete"
SOURCE_NOTE = "Källa: NNS indikatorarbete"
NUMERIC_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "DOUBLE",
                 "FLOAT", "DECIMAL", "REAL")

# Swedish and English names of the dimensions (the catalogue has Swedish only; English is ours).
DIMENSION_LABELS = {
    "period": ("mätperiod", "measurement period"),
    "cohort_year": ("kohort (år insatsen avslutades)", "cohort (year the insats ended)"),
    "federation_code": ("samordningsförbund", "federation"),
    "respondent_group": ("enkät", "questionnaire"),
    "indicator_id": ("indikator", "indicator"),
    "gender": ("kön", "gender"),
    "comparability_key": ("jämförbar frågeserie", "comparable question series"),
    "question_code": ("fråga", "question"),
    "followup_months": ("uppföljning, månader efter avslut", "follow-up, months after the end"),
    "insats": ("insats", "insats (activity)"),
    "support_at_start": ("huvudsaklig försörjning vid start", "main support at start"),
    "support_at_end": ("huvudsaklig försörjning vid avslut", "main support at the end"),
    "window_name": ("insamlingsperiod", "collection window"),
    "category": ("försörjning", "main support"),
    "end_reason": ("avslutsorsak", "end reason"),
    "published_at": ("publicerad", "published"),
    CONTENTS: ("tabellinnehåll", "contents"),
}
TIME_DIMENSIONS = ("period", "cohort_year")
GEO_DIMENSIONS = ("federation_code",)

# Contents: Swedish label, English label, unit (sv, en), decimals.
COUNT = ("antal", "number", 0)
SHARE = ("andel (0–1)", "share (0–1)", 4)
YES_NO = ("1 = ja, 0 = nej", "1 = yes, 0 = no", 0)
ROWS = ("antal rader (0 eller 1)", "rows (0 or 1)", 0)  # a text's content: does the row hold this text?
CONTENT_LABELS = {
    "n": ("Antal svarande med minst ett giltigt svar", "Respondents with at least one valid answer", COUNT),
    "valid_answers": ("Antal giltiga svar (1–6)", "Valid answers (1–6)", COUNT),
    "mean_score": ("Medelvärde, skala 1–6", "Mean score, scale 1–6", ("medelvärde", "mean", 3)),
    "positive_share": ("Andel positiva svar (4–6)", "Positive share (answers 4–6)", SHARE),
    "ci_low": ("Andel positiva, 95 % konfidensintervall, nedre gräns", "Positive share, 95 % CI, low", SHARE),
    "ci_high": ("Andel positiva, 95 % konfidensintervall, övre gräns", "Positive share, 95 % CI, high", SHARE),
    "national_positive_share": ("Riket: andel positiva svar", "Nation: positive share", SHARE),
    "national_mean_score": ("Riket: medelvärde", "Nation: mean score", ("medelvärde", "mean", 3)),
    "federations_mean_share": ("Förbundens medelvärde av andel positiva (oviktat)",
                               "Unweighted mean of the federations' positive shares", SHARE),
    "asked": ("Antal tillfrågade", "Number asked", COUNT),
    "answered": ("Antal som svarat", "Number who answered", COUNT),
    "rows_received": ("Antal inkomna enkätrader", "Questionnaire rows received", COUNT),
    "response_rate": ("Svarsfrekvens", "Response rate", SHARE),
    "versions_received": ("Antal inskickade versioner", "File versions received", COUNT),
    "federations": ("Antal förbund som skickat in", "Federations that sent files", COUNT),
    "federations_in_period": ("Antal förbund i mätperioden", "Federations taking part", COUNT),
    "questionnaires": ("Antal enkäter", "Questionnaires", COUNT),
    "n_observed": ("Antal avslutade insatser med uppföljning", "Ended insatser followed up", COUNT),
    "n_self_supporting": ("Antal självförsörjande", "Self-supporting", COUNT),
    "share_self_supporting": ("Andel självförsörjande", "Share self-supporting", SHARE),
    "n_sustainable": ("Antal hållbart självförsörjande", "Sustainably self-supporting", COUNT),
    "share_sustainable": ("Andel hållbart självförsörjande", "Share sustainably self-supporting", SHARE),
    "participants": ("Antal deltagare", "Participants", COUNT),
    "mean_insats_months": ("Genomsnittlig insatstid", "Mean length of the insats", ("månader", "months", 1)),
    "n_work_or_studies": ("Antal till arbete eller studier", "To work or studies", COUNT),
    "share_work_or_studies": ("Andel till arbete eller studier", "Share to work or studies", SHARE),
    "mean_years_public_support_before": ("Genomsnittligt antal år med offentlig försörjning före",
                                         "Mean years in public support before", ("år", "years", 1)),
    "is_complete": ("Uppföljningspunkten är fullständig", "The follow-up point is complete", YES_NO),
    "submitted_previous_period": ("Skickade in förra mätperioden", "Sent files for the previous period", YES_NO),
    "is_official_text": ("Officiell text", "Official wording", YES_NO),
    "is_work_or_studies": ("Arbete eller studier", "Work or studies", YES_NO),
    "is_registration_error": ("Felregistrering", "Registration error", YES_NO),
    "indicator_id": ("Indikator (nummer)", "Indicator (number)", ("nummer", "number", 0)),
    "tie_priority": ("Företräde vid lika belopp (lägst först)", "Priority at equal amounts (lowest first)",
                     ("ordning", "order", 0)),
    "sort_order": ("Ordning i rapporterna", "Order in the reports", ("ordning", "order", 0)),
    "disclosure_threshold": ("Tröskel för röjandekontroll", "Disclosure threshold", ("personer", "people", 0)),
}
# Text columns served as their texts (in the tables that are not statistics): Swedish and English names.
TEXT_LABELS = {
    "federation_name": ("namn", "name"),
    "lan": ("län", "county"),
    "valid_from": ("giltig från", "valid from"),
    "valid_to": ("giltig till", "valid to"),
    "successor_code": ("uppgick i", "merged into"),
    "predecessor_codes": ("föregångare", "predecessors"),
    "reporting_federation_code": ("redovisas som", "reports as"),
    "change_note": ("förändring", "change"),
    "indicator_title": ("indikatorns text", "the indicator's text"),
    "measured_by": ("mäts med", "measured by"),
    "respondent_group_name": ("enkätens namn", "questionnaire's name"),
    "question_text": ("frågans text", "question text"),
    "scale_id": ("svarsskala", "answer scale"),
    "label_sv": ("benämning", "label"),
    "support_class": ("försörjningsslag", "support class"),
    "name_sv": ("namn", "name"),
    "description_sv": ("beskrivning", "description"),
    "opens_on": ("öppnar", "opens"),
    "closes_on": ("stänger", "closes"),
    "received_in_window_at": ("inkommen under insamlingsperioden", "received in the window"),
    "freshness_status": ("status", "status"),
    "warehouse_built_at": ("lagret byggt", "warehouse built"),
    "tables": ("tabeller", "tables"),
}
TABLE_LABELS = {
    "indicator_results": ("Indikatorresultat efter mätperiod, samordningsförbund, enkät, indikator och kön",
                          "Indicator results by period, federation, questionnaire, indicator and gender"),
    "indicator_trends": ("Indikatorer över tid efter jämförbar frågeserie, samordningsförbund och kön",
                         "Indicator trends by comparable question series, federation and gender"),
    "collection_status": ("Insamling efter mätperiod, samordningsförbund och enkät",
                          "Collection by period, federation and questionnaire"),
    "collection_summary": ("Insamling i riket efter mätperiod och enkät",
                           "National collection by period and questionnaire"),
    "indicator11_outcomes": ("Indikator 11: självförsörjning efter insats, kohort, uppföljning, förbund, kön, "
                             "insats och försörjning vid start",
                             "Indicator 11: self-support after an insats, by cohort, follow-up, federation, gender, "
                             "insats and support at start"),
    "gender_analysis": ("Jämställdhetsanalys efter kohort, samordningsförbund, insats och kön",
                        "Gender analysis by cohort, federation, insats and gender"),
    "support_transitions": ("Försörjning vid start och vid avslut efter kohort och kön",
                            "Support at start and at the end, by cohort and gender"),
    "collection_freshness": ("Inkommet under insamlingsperioden efter samordningsförbund",
                             "Received in the collection window, by federation"),
    "federations": ("Samordningsförbunden och deras historia", "The federations and their history"),
    "indicators": ("Indikatorerna", "The indicators"),
    "questions": ("Frågorna efter mätperiod de ställs", "The questions, by the periods they are asked"),
    "support_categories": ("Försörjningskategorierna", "The categories of main support"),
    "insatser": ("Insatserna", "The insatser"),
    "end_reasons": ("Avslutsorsakerna", "The end reasons"),
    "publication": ("Publiceringen: när och hur databasen byggdes", "The publication: when and how it was built"),
}
# The row key of each table publication/specs.py gives none (its grain, docs/analysts.md section 3).
ROW_KEYS = {"collection_freshness": ["period", "window_name", "federation_code"],
            "federations": ["federation_code"], "indicators": ["indicator_id"], "questions": ["question_code"],
            "support_categories": ["category"], "insatser": ["insats"], "end_reasons": ["end_reason"],
            "publication": ["published_at"]}
# A cube's dimensions are the table's keys, except where a key follows from another: in indicator_trends the
# questionnaire, the indicator and the question follow from the comparability series (docs/analysts.md,
# its grain), so they are labels of the series rather than dimensions that would multiply empty cells.
CUBE_KEYS = {"indicator_trends": ["period", "comparability_key", "federation_code", "gender"]}
GENDER_LABELS = {"K": ("Kvinnor", "Women"), "M": ("Män", "Men"), "T": ("Totalt", "Total")}
ALL_LABELS = {"insats": ("Alla insatser", "All insatser"), "support_at_start": ("Alla", "All"),
              "support_at_end": ("Alla", "All")}
MONTHS_SV = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
             "november", "december"]


class NotPublished(Exception):
    """There is no published database yet."""


@dataclass
class Dimension:
    code: str
    label: tuple[str, str]
    values: list[str]  # value codes, in order
    labels: dict[str, tuple[str, str]]  # code -> (sv, en)
    elimination_value: str | None = None  # the total a request may leave out (gender T, RIKET, alla)
    units: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # contents only

    def label_of(self, code: str, lang: str) -> str:
        sv, en = self.labels.get(code, (code, code))
        return en if lang == "en" else sv


@dataclass
class Cube:
    spec: PublishedTable
    dimensions: list[Dimension]  # the row key, then ContentsCode
    column_types: dict[str, str]
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # a text's content code -> (column, text)

    @property
    def id(self) -> str:
        return self.spec.name

    @property
    def contents(self) -> Dimension:
        return self.dimensions[-1]

    def dimension(self, code: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.code == code), None)

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
        sv, en = TABLE_LABELS.get(self.id, (self.id, self.id))
        return en if lang == "en" else sv


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


class Published:
    """One build of the published database, open read-only for as long as it is the current one."""

    def __init__(self, path: Path, key: tuple[int, int]):
        self.path, self.key = path, key
        # An in-memory database with the file attached read-only: DuckDB's per-path instance cache
        # would otherwise hand a new connection the old build while any connection to it is open.
        self._con = duckdb.connect(":memory:")
        self._con.execute(f"attach '{_quoted_path(path)}' as pub (read_only)")
        self._lock = threading.Lock()
        columns = self.query("select table_name, column_name, data_type from duckdb_columns() "
                             "where database_name = 'pub' and schema_name = 'main' order by column_index")
        self.columns: dict[str, dict[str, str]] = {}
        for table, column, dtype in columns:
            self.columns.setdefault(table, {})[column] = dtype
        # Every table in the file: the published ones in their order, then the others (publication), which
        # the publication step writes itself (no warehouse source).
        specs = {spec.name: spec for spec in PUBLISHED}
        names = [s.name for s in PUBLISHED if s.name in self.columns] + sorted(set(self.columns) - set(specs))
        self.tables = [specs.get(n) or PublishedTable(n, "", list(self.columns[n])) for n in names]
        self.publication = dict(zip(["published_at", "disclosure_threshold", "warehouse_built_at", "tables"],
                                    self.query("select published_at, disclosure_threshold, warehouse_built_at, "
                                               "tables from publication")[0], strict=True)) \
            if "publication" in self.columns else {}
        listed = self.query("select perturbed_tables from publication")[0][0] \
            if "perturbed_tables" in self.columns.get("publication", {}) else ""
        # Tables whose counts the Cell Key Method perturbed (docs/analysts.md): their notes say so.
        self.perturbed = {t.strip() for t in (listed or "").split(",") if t.strip()}
        self._cubes: dict[str, Cube] = {}

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        cursor = self._con.cursor()
        cursor.execute("use pub")  # each cursor is a connection of its own, starting in memory
        try:
            return cursor.execute(sql, params or []).fetchall()
        finally:
            cursor.close()

    def arrow(self, sql: str, params: list | None = None):
        cursor = self._con.cursor()
        cursor.execute("use pub")  # each cursor is a connection of its own, starting in memory
        try:
            return cursor.sql(sql, params=params or None).to_arrow_table()
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()

    # ---- the allow-list ----
    def spec(self, table: str) -> PublishedTable | None:
        return next((s for s in self.tables if s.name == table), None)

    def published_columns(self, spec: PublishedTable) -> list[str]:
        """The columns as published, in order (status last on a protected table)."""
        return list(self.columns[spec.name])

    def cube_ids(self) -> list[str]:
        return [s.name for s in self.tables if self.row_key(s)]

    @staticmethod
    def row_key(spec: PublishedTable) -> list[str]:
        """The dimensions: the table's grain (CUBE_KEYS where a key follows from another)."""
        return CUBE_KEYS.get(spec.name) or spec.keys or ROW_KEYS.get(spec.name, [])

    def _kind(self, spec: PublishedTable, column: str) -> str:
        """How a non-key column is served: 'number', 'yes/no', 'text' (unprotected tables) or '' (not served)."""
        dtype = self.columns[spec.name][column]
        if dtype.startswith(NUMERIC_TYPES):
            return "number"
        if dtype == "BOOLEAN":
            return "yes/no"
        return "" if spec.protected else "text"

    def _content_columns(self, spec: PublishedTable) -> list[str]:
        """The served non-key columns in the table's order (not status, nor a protected table's full grain)."""
        skip = set(self.row_key(spec)) | set(spec.keys) | {"status"}
        return [c for c in self.columns[spec.name] if c not in skip and self._kind(spec, c)]

    def cube(self, table: str) -> Cube | None:
        spec = self.spec(table)
        if spec is None or not self.row_key(spec):
            return None
        with self._lock:
            if table not in self._cubes:
                self._cubes[table] = self._build_cube(spec)
            return self._cubes[table]

    def _build_cube(self, spec: PublishedTable) -> Cube:
        types = self.columns[spec.name]
        totals = {m.part: m.total for m in spec.margins}
        dimensions = []
        for key in self.row_key(spec):
            numeric = types[key].startswith(NUMERIC_TYPES)
            rows = self.query(f"select distinct cast({ident(key)} as varchar), {ident(key)} "
                              f"from {ident(spec.name)} order by {ident(key)}")
            values = [r[0] for r in rows]
            if numeric:
                values = [r[0] for r in sorted(rows, key=lambda r: r[1])]
            if key in totals and totals[key] in values:  # the total first, as PxWeb sites do
                values = [totals[key]] + [v for v in values if v != totals[key]]
            dimensions.append(Dimension(key, DIMENSION_LABELS.get(key, (key, key)), values,
                                        self._category_labels(spec, key, values), totals.get(key)))
        codes, labels, units, texts = [], {}, {}, {}
        for column in self._content_columns(spec):
            if self._kind(spec, column) != "text":
                codes.append(column)
                sv, en, units[column] = CONTENT_LABELS.get(column, (column, column, ("", "", 2)))
                labels[column] = (sv, en)
                continue
            name = TEXT_LABELS.get(column) or DIMENSION_LABELS.get(column) or (column, column)
            distinct = {text_of(v) for v in self.arrow(f"select distinct {ident(column)} from {ident(spec.name)}")
                        .column(0).to_pylist()} - {None}
            for text in sorted(distinct):
                code = text_code(column, text)
                codes.append(code)
                labels[code] = (f"{name[0]}: {text}", f"{name[1]}: {text}")
                units[code] = ROWS
                texts[code] = (column, text)
        dimensions.append(Dimension(CONTENTS, DIMENSION_LABELS[CONTENTS], codes, labels, units=units))
        return Cube(spec, dimensions, dict(types), texts)

    def _category_labels(self, spec: PublishedTable, key: str, values: list[str]) -> dict[str, tuple[str, str]]:
        """Swedish labels from the catalogue tables in the file (English only where we have it)."""
        pairs: dict[str, str] = {}
        if key == "federation_code" and "federation_name" in self.columns[spec.name]:
            pairs = dict(self.query(f"select federation_code, any_value(federation_name) from {ident(spec.name)} "
                                    "group by federation_code"))
            pairs.setdefault(NATION, "Riket")
        elif key == "indicator_id" and "indicators" in self.columns:
            pairs = dict(self.query("select cast(indicator_id as varchar), "
                                    "arg_max(indicator_title, valid_from) from indicators group by indicator_id"))
        elif key == "respondent_group" and "questions" in self.columns:
            pairs = dict(self.query("select respondent_group, any_value(respondent_group_name) from questions "
                                    "group by respondent_group"))
        elif key == "comparability_key" and "questions" in self.columns:
            pairs = dict(self.query("select comparability_key, arg_max(question_code || ': ' || question_text, "
                                    "valid_from) from questions group by comparability_key"))
        elif key == "question_code" and "questions" in self.columns:
            pairs = dict(self.query("select question_code, arg_max(question_text, valid_from) from questions "
                                    "group by question_code"))
        elif key in ("support_at_start", "support_at_end", "category") and "support_categories" in self.columns:
            pairs = dict(self.query("select category, label_sv from support_categories"))
        elif key == "insats" and "insatser" in self.columns:
            pairs = dict(self.query("select insats, name_sv from insatser"))
        elif key == "end_reason" and "end_reasons" in self.columns:
            pairs = dict(self.query("select end_reason, label_sv from end_reasons"))
        labels = {code: (name, name) for code, name in pairs.items() if name}
        if key == "gender":
            labels.update(GENDER_LABELS)
        if key in ALL_LABELS:
            labels["alla"] = ALL_LABELS[key]
        if key == "followup_months":
            labels.update({v: (f"{v} månader", f"{v} months") for v in values})
        return {v: labels.get(v, (v, v)) for v in values}


def ident(name: str) -> str:
    """A quoted identifier. Only names from the allow-list reach here; quoting is a second guard."""
    return '"' + name.replace('"', '""') + '"'


def _quoted_path(path: Path) -> str:
    return str(path).replace("'", "''")


_current: Published | None = None
_current_lock = threading.Lock()


def open_published(path: Path) -> Published:
    """The current build at `path`, reopened when the file's inode or mtime changed (an atomic swap)."""
    global _current
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise NotPublished(f"Nothing is published yet: {path} does not exist (run `nns build`).") from None
    key = (stat.st_ino, stat.st_mtime_ns)
    with _current_lock:
        if _current is None or _current.path != path or _current.key != key:
            # The old snapshot is left to the garbage collector: a request may still be reading it.
            _current = Published(path, key)
        return _current
