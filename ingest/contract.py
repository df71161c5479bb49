"""The submission contract ("inmatningsfilen"): what a valid survey file is.

`validate()` takes the sheets read from one file and returns the parsed rows
plus *every* problem found, each with sheet, row and column, so a federation can
fix everything in one go. What is valid comes from the catalogue (groups and
questions valid in the period, answer scales, background codes, federations),
never from constants here. docs/submission_format.md describes the same rules
for people.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from core.catalogue import Catalogue, Group, parse_period, period_bounds

from .inbox import stored_name
from .personnummer import contains_personal_number
from .problems import Problem, name_problem, problem
from .reader import SheetFindings, Sheets

METADATA_SHEET = "Metadata"
COLLECTION_SHEET = "Insamling"
REFERENCE_SHEETS = {"anvisningar", "frågor", "koder"}  # written by the template; ignored on read

SERIAL = "Löpnummer"
ANSWERED_ON = "Datum"
GENDER = "Kön"
AGE_GROUP = "Åldersgrupp"
INSATS = "Insats"
COLLECTION_COLUMNS = ("Enkät", "Antal tillfrågade", "Antal besvarade")
METADATA_FIELDS = {"förbundskod": "Förbundskod", "mätperiod": "Mätperiod"}

NAME_RE = re.compile(
    r"^(?P<federation>[A-Za-z0-9]+)_(?P<period>\d{4}-\d{2})(?:_(?P<rest>[^.]*))?\.(?P<ext>xlsx|csv)$",
    re.IGNORECASE,
)
NUMBER_RE = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?", re.ASCII)  # ASCII digits only
DATE_TEXT_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
                          r"|([0-9]{4})([0-9]{2})([0-9]{2})", re.ASCII)
COUNT_RE = re.compile(r"[0-9]+", re.ASCII)
MAX_COUNT = 10_000_000  # more questionnaires than Sweden has people is a typing error
EXCEL_EPOCH_1904 = date(1904, 1, 1)
INSATS_RE = re.compile(r"^[\wÅÄÖåäö .\-/]{1,40}$")
EXCEL_EPOCH = date(1899, 12, 30)
EXAMPLES = 20  # cells or rows quoted in one problem; the count covers them all
MAX_PROBLEMS = 2_000  # cell problems listed per file; the rest are counted (TOO_MANY_PROBLEMS)


@dataclass(frozen=True)
class SubmissionName:
    federation_code: str
    period: str
    fmt: str  # 'xlsx' | 'csv'
    csv_sheet: str | None = None  # the one sheet a CSV file carries


@dataclass
class Parsed:
    """What a valid file contributes. Filled even when there are problems, so
    feedback can count the rows that were fine."""

    respondents: list[tuple] = field(default_factory=list)  # RESPONDENT_FIELDS
    answers: list[tuple] = field(default_factory=list)  # ANSWER_FIELDS
    collection: list[tuple] = field(default_factory=list)  # COLLECTION_FIELDS
    groups_with_rows: set[str] = field(default_factory=set)  # questionnaire sheets with rows
    groups_with_counts: set[str] = field(default_factory=set)  # Insamling rows with counts
    problems: list[Problem] = field(default_factory=list)
    rows_total: int = 0
    rows_with_errors: set[tuple[str, int]] = field(default_factory=set)
    not_listed: int = 0  # cell problems past MAX_PROBLEMS: counted, not kept (bounded memory)

    @property
    def rows_ok(self) -> int:
        return self.rows_total - len(self.rows_with_errors)

    def add(self, p: Problem) -> None:
        # Only a questionnaire sheet's rows are questionnaire rows (Metadata's and Insamling's are not).
        if (p.severity == "fel" and p.sheet not in (None, METADATA_SHEET, COLLECTION_SHEET)
                and p.row is not None and p.row > 1):
            self.rows_with_errors.add((p.sheet, p.row))
            if len(self.problems) >= MAX_PROBLEMS:
                self.not_listed += 1
                return
        self.problems.append(p)


RESPONDENT_FIELDS = ("respondent_group", "serial", "source_row", "answered_on", "gender", "age_group", "insats")
ANSWER_FIELDS = ("respondent_group", "serial", "question_code", "answer_value")
COLLECTION_FIELDS = ("respondent_group", "asked", "answered")


def col_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _text(cell) -> str | None:
    """A cell as trimmed NFC text, inner whitespace collapsed; None for a blank cell."""
    if cell is None:
        return None
    # Fast paths for what readers mostly return; each gives exactly what the general path below gives.
    kind = type(cell)
    if kind is float:  # str() of a float is ASCII without whitespace: nothing to normalise or trim
        return str(int(cell)) if cell.is_integer() else str(cell)
    if kind is int or kind is bool or kind is date or kind is datetime:  # ASCII, no whitespace to collapse
        return str(cell)
    if kind is str and cell.isascii():  # NFC leaves ASCII as it is
        return " ".join(cell.split()) or None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    text = " ".join(unicodedata.normalize("NFC", str(cell)).split())
    return text or None


def _large(number: int) -> str:
    """A huge count for a message: in words from a billion on (ten digits would be masked as a personnummer)."""
    if number >= 1_000_000_000:
        return f"{number / 1e9:.1f}".replace(".", ",") + " miljarder"
    return f"{number:,}".replace(",", " ")


def _display(cell) -> str:
    """A cell value as the submitter would recognise it in a message."""
    text = _text(cell)
    return f"'{text[:40]}'" if text is not None else "(tom)"


def parse_name(filename: str, catalogue: Catalogue) -> SubmissionName | Problem:
    """What the name states, or its first problem: an unsafe name (FILE_NAME_UNSAFE) before any other."""
    return name_problem(filename, stored_name(Path(filename))) or read_name(filename, catalogue)


def read_name(filename: str, catalogue: Catalogue) -> SubmissionName | Problem:
    """The federation, period, format (and a CSV's sheet) the name states, or why it states none.

    Whether the name is safe to keep (length, control characters) is `name_problem`'s question:
    a name too long can still state everything its file needs to be checked.
    """
    filename = unicodedata.normalize("NFC", filename)
    m = NAME_RE.fullmatch(filename)
    if not m:
        suffix = Path(filename).suffix.lower()
        if suffix not in {".xlsx", ".csv"}:
            return problem("FILE_TYPE", suffix=suffix or "(ingen)")
        return problem("FILE_NAME", name=filename)
    period = parse_period(m.group("period"))
    if period is None:
        return problem("PERIOD_INVALID", value=m.group("period"))
    periods = sorted({w.period for w in catalogue.windows})
    if period not in periods:  # the gate accepts only these: a file for 2099/00 would stop the build
        return problem("PERIOD_UNKNOWN", value=period, first=periods[0], last=periods[-1])
    fmt = m.group("ext").lower()
    csv_sheet = None
    if fmt == "csv":
        first = (m.group("rest") or "").split("_")[0]
        known = {g.sheet_name.casefold(): g.sheet_name for g in catalogue.groups}
        known[COLLECTION_SHEET.casefold()] = COLLECTION_SHEET
        csv_sheet = known.get(first.casefold())
        if csv_sheet is None:
            return problem("FILE_NAME", name=f"{filename} (en CSV-fil ska heta t.ex. "
                           f"{m.group('federation')}_{m.group('period')}_Deltagare.csv)")
    return SubmissionName(m.group("federation").upper(), period, fmt, csv_sheet)


def check_federation(name: SubmissionName, catalogue: Catalogue) -> Problem | None:
    federation = catalogue.federation(name.federation_code)
    if federation is None:
        return problem("FEDERATION_UNKNOWN", code=name.federation_code)
    if federation not in catalogue.federations_in(name.period):
        return problem("FEDERATION_INACTIVE", code=name.federation_code, period=name.period)
    return None


def _is_blank_row(row: list) -> bool:
    return all(_text(c) is None for c in row)


def _data_rows(rows: list[list]) -> list[tuple[int, list]]:
    """(Excel row number, cells) for every non-blank row after the header."""
    return [(i + 1, r) for i, r in enumerate(rows[1:], start=1) if not _is_blank_row(r)]


class _Answers:
    """Maps a cell to a scale value, using the scale's numbers and labels."""

    def __init__(self, catalogue: Catalogue, scale_id: str):
        steps = catalogue.scales[scale_id]
        values = [s.value for s in steps if s.value is not None]
        self.low, self.high = min(values), max(values)
        self.by_label = {s.label.casefold(): s.value for s in steps}
        self.missing_labels = {s.label.casefold() for s in steps if s.is_missing}
        # Every valid number, keyed by itself: a number cell in range is one lookup (1.0 and 1 hash alike).
        self.in_range = {number: number for number in range(int(self.low), int(self.high) + 1)
                         if self.low <= number <= self.high}

    def parse(self, cell) -> tuple[int | None, str | None]:
        """(value, error code): value None with no error means a missing answer."""
        kind = type(cell)
        if kind is float or kind is int:  # not bool, whose True would look up as 1
            value = self.in_range.get(cell)
            if value is not None:
                return value, None
        if cell is None:
            return None, None
        if isinstance(cell, bool):
            return None, "ANSWER_INVALID"
        if isinstance(cell, (int, float)):
            number = float(cell)
            if not math.isfinite(number):
                return None, "ANSWER_INVALID"
        else:
            text = " ".join(unicodedata.normalize("NFC", str(cell)).split()).casefold()
            if not text:
                return None, None
            if text in self.by_label:
                return self.by_label[text], None
            if not NUMBER_RE.fullmatch(text):  # not 4e0, 0_4, ٤, inf: only the forms the format lists
                return None, "ANSWER_INVALID"
            number = float(text.replace(",", "."))
        if not number.is_integer():
            return None, "ANSWER_INVALID"
        if not self.low <= number <= self.high:
            return None, "ANSWER_OUT_OF_RANGE"
        return int(number), None


def _parse_date(cell, date1904: bool = False) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, (int, float)) and not isinstance(cell, bool) and 1 <= cell < 2958466:
        # An unformatted Excel date, counted in the workbook's own date system.
        return (EXCEL_EPOCH_1904 if date1904 else EXCEL_EPOCH) + timedelta(days=int(cell))
    text = _text(cell)
    if text is None:
        return None
    m = DATE_TEXT_RE.fullmatch(text)  # YYYY-MM-DD (a time may follow) or YYYYMMDD; not 2026-W11-6
    if not m:
        return None
    year, month, day = (int(g) for g in (m.groups()[:3] if m[1] else m.groups()[3:]))
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _code_lookup(codes_and_labels: list[tuple[str, str]]) -> dict[str, str]:
    """A cell's text, casefolded -> the code it names: the code itself or its label, in any case.
    Where two options would match, the first one listed wins."""
    lookup: dict[str, str] = {}
    for code, label in codes_and_labels:
        lookup.setdefault(code.casefold(), code)
        lookup.setdefault(label.casefold(), code)
    return lookup


def _examples(items) -> str:
    items = [str(i) for i in items]
    return ", ".join(items[:EXAMPLES]) + (" …" if len(items) > EXAMPLES else "")


def _report_unreadable_cells(sheet: str, findings: SheetFindings | None, out: Parsed) -> None:
    """Formulas without a saved value and error values: reported even where the sheet then looks empty."""
    if findings and findings.formulas_without_value:
        out.add(problem("FORMULA_NO_VALUE", sheet=sheet, count=len(findings.formulas_without_value),
                        cells=_examples(findings.formulas_without_value)))
    if findings and findings.error_values:
        out.add(problem("CELL_ERROR_VALUE", sheet=sheet, count=len(findings.error_values),
                        cells=_examples(f"{ref} ({value})" for ref, value in findings.error_values)))


def _report_findings(sheet: str, rows: list[list], findings: SheetFindings | None, out: Parsed, *,
                     data_sheet: bool) -> bool:
    """Hidden rows and merged cells on a data sheet; True if the sheet's cells cannot be trusted.

    (Formulas without a saved value and error values read as blank cells: they
    are reported first, by `_report_unreadable_cells`, wherever they are.) Hidden rows are read like any other row (the
    format has no notion of a hidden questionnaire), with a warning so the
    submitter can see it. Merged cells leave all but one cell of each range blank:
    the sheet is reported and not checked further.
    """
    if not findings:
        return False
    if not data_sheet:
        _report_unreadable_cells(sheet, findings, out)
        return False
    hidden = [r for r in findings.hidden_rows if 1 < r <= len(rows) and not _is_blank_row(rows[r - 1])]
    if hidden:
        out.add(problem("HIDDEN_ROWS", sheet=sheet, count=len(hidden), rows=_examples(hidden)))
    if findings.merged:
        out.add(problem("MERGED_CELLS", sheet=sheet, ranges=_examples(findings.merged)))
        return True
    return False


def _validate_group_sheet(sheet: str, rows: list[list], group: Group, name: SubmissionName,
                          catalogue: Catalogue, max_rows: int, out: Parsed, *,
                          total_rows: int | None = None, findings: SheetFindings | None = None,
                          date1904: bool = False) -> None:
    header = [_text(c) for c in rows[0]] if rows else []
    _report_unreadable_cells(sheet, findings, out)
    data = _data_rows(rows)
    if not data:
        return  # an empty sheet neither contributes nor supersedes
    if group not in catalogue.groups_in(name.period):
        out.add(problem("GROUP_NOT_OPEN", sheet=sheet, group_sheet=sheet, period=name.period))
        return
    out.groups_with_rows.add(group.code)
    n_rows = total_rows if total_rows is not None else len(data)  # the reader counted a runaway sheet
    out.rows_total += n_rows
    if n_rows > max_rows:
        out.add(problem("TOO_MANY_ROWS", sheet=sheet, rows=n_rows, limit=max_rows))
        return  # listing every cell of a runaway sheet helps nobody
    if _report_findings(sheet, rows, findings, out, data_sheet=True):
        return

    questions = catalogue.questions_for(group.code, name.period)
    background = [SERIAL, ANSWERED_ON, GENDER]
    background += [AGE_GROUP] if group.asks_age_group else []
    background += [INSATS] if group.asks_insats else []
    expected = {c.casefold(): c for c in background + [q.code for q in questions]}

    columns: dict[str, int] = {}  # canonical column name -> index
    for idx, head in enumerate(header):
        if head is None:
            if any(idx < len(r) and _text(r[idx]) is not None for _, r in data):
                out.add(problem("COLUMN_UNKNOWN", sheet=sheet, row=1,
                                column=f"{col_letter(idx)} (utan rubrik)", period=name.period))
            continue
        canonical = expected.get(head.casefold())
        label = f"{col_letter(idx)} ({head})"
        if canonical is None:
            out.add(problem("COLUMN_UNKNOWN", sheet=sheet, row=1, column=label, period=name.period))
        elif canonical in columns:
            out.add(problem("COLUMN_DUPLICATE", sheet=sheet, row=1, column=label))
        else:
            columns[canonical] = idx
    for canonical in expected.values():
        if canonical not in columns:
            out.add(problem("COLUMN_MISSING", sheet=sheet, row=1, column=canonical))

    start, end = period_bounds(name.period)
    genders = list(catalogue.background["kon"])
    ages = list(catalogue.background["aldersgrupp"])
    by_scale = {scale_id: _Answers(catalogue, scale_id) for scale_id in {q.scale_id for q in questions}}
    scales = {q.code: by_scale[q.scale_id] for q in questions}
    seen_serials: dict[str, int] = {}
    asked = [(q.code, columns[q.code], scales[q.code]) for q in questions if q.code in columns]
    answers = out.answers
    coded_columns = [(col, options, _code_lookup(options))
                     for col, options in ((GENDER, genders), (AGE_GROUP, ages)) if col in columns]

    def cell(r: list, col: str):
        idx = columns.get(col)
        return r[idx] if idx is not None and idx < len(r) else None

    serial_idx = columns.get(SERIAL)

    def where(col: str) -> str:
        return f"{col_letter(columns[col])} ({col})"

    for row_no, r in data:
        serial = _text(r[serial_idx] if serial_idx < len(r) else None) if serial_idx is not None else None
        if serial_idx is not None:
            if serial is None:
                out.add(problem("SERIAL_MISSING", sheet=sheet, row=row_no, column=where(SERIAL)))
            elif serial in seen_serials:
                out.add(problem("SERIAL_DUPLICATE", sheet=sheet, row=row_no, column=where(SERIAL),
                                value=_display(serial), first_row=seen_serials[serial]))
            else:
                seen_serials[serial] = row_no

        answered_on = None
        if ANSWERED_ON in columns:
            raw = cell(r, ANSWERED_ON)
            answered_on = _parse_date(raw, date1904)
            if raw is None or _text(raw) is None:
                out.add(problem("DATE_MISSING", sheet=sheet, row=row_no, column=where(ANSWERED_ON)))
            elif answered_on is None:
                out.add(problem("DATE_INVALID", sheet=sheet, row=row_no, column=where(ANSWERED_ON),
                                value=_display(raw)))
            elif not start <= answered_on <= end:
                out.add(problem("DATE_OUTSIDE_PERIOD", sheet=sheet, row=row_no, column=where(ANSWERED_ON),
                                value=answered_on.isoformat(), period=name.period,
                                start=start.isoformat(), end=end.isoformat()))

        coded = {}
        for col, options, lookup in coded_columns:
            raw = cell(r, col)
            text = _text(raw)
            coded[col] = lookup.get(text.casefold()) if text is not None else None
            if text is not None and coded[col] is None:
                allowed = ", ".join(code if code == label else f"{code} ({label})" for code, label in options)
                out.add(problem("CODE_INVALID", sheet=sheet, row=row_no, column=where(col),
                                value=_display(raw), allowed=allowed))
        insats = None
        if INSATS in columns:
            insats = _text(cell(r, INSATS))
            if insats is not None and not INSATS_RE.match(insats):
                out.add(problem("CODE_INVALID", sheet=sheet, row=row_no, column=where(INSATS),
                                value=_display(insats), allowed="insatsens kod, högst 40 tecken"))

        width = len(r)
        for code, idx, scale in asked:
            raw = r[idx] if idx < width else None
            kind = type(raw)
            if (kind is float or kind is int) and (value := scale.in_range.get(raw)) is not None:
                answers.append((group.code, serial, code, value))  # scale.parse's first case, inline
                continue
            value, error = scale.parse(raw)
            if error:
                out.add(problem(error, sheet=sheet, row=row_no, column=where(code),
                                value=_display(raw), low=scale.low, high=scale.high))
            answers.append((group.code, serial, code, value))
        out.respondents.append((group.code, serial, row_no, answered_on, coded.get(GENDER),
                                coded.get(AGE_GROUP), insats))


def _validate_collection_sheet(sheet: str, rows: list[list], name: SubmissionName,
                               catalogue: Catalogue, out: Parsed, *, max_rows: int,
                               total_rows: int | None = None, findings: SheetFindings | None = None) -> None:
    _report_unreadable_cells(sheet, findings, out)
    if total_rows is not None and total_rows > max_rows:
        out.add(problem("TOO_MANY_ROWS", sheet=sheet, rows=total_rows, limit=max_rows))
        return
    if _report_findings(sheet, rows, findings, out, data_sheet=True):
        return
    header = [(_text(c) or "").casefold() for c in rows[0]] if rows else []
    columns = {}
    for wanted in COLLECTION_COLUMNS:
        if wanted.casefold() in header:
            columns[wanted] = header.index(wanted.casefold())
        else:
            out.add(problem("COLUMN_MISSING", sheet=sheet, row=1, column=wanted))
    if len(columns) < len(COLLECTION_COLUMNS):
        return
    open_groups = {g.code for g in catalogue.groups_in(name.period)}
    enkat, asked_col, answered_col = COLLECTION_COLUMNS

    def get(r: list, col: str):
        idx = columns[col]
        return r[idx] if idx < len(r) else None

    first_rows: dict[str, int] = {}
    for row_no, r in _data_rows(rows):
        raw_group = get(r, enkat)
        group = catalogue.group_by_sheet(_text(raw_group) or "")
        counts_given = _text(get(r, asked_col)) is not None or _text(get(r, answered_col)) is not None
        if group is None:
            out.add(problem("CODE_INVALID", sheet=sheet, row=row_no, column=f"{col_letter(columns[enkat])} ({enkat})",
                            value=_display(raw_group),
                            allowed=", ".join(g.sheet_name for g in catalogue.groups_in(name.period))))
            continue
        if not counts_given:
            continue  # the template lists every group; unfilled rows mean "not collected"
        if group.code not in open_groups:
            out.add(problem("GROUP_NOT_OPEN", sheet=sheet, row=row_no, group_sheet=group.sheet_name,
                            period=name.period))
            continue
        if group.code in first_rows:  # one count per questionnaire: the warehouse keys on it
            out.add(problem("GROUP_DUPLICATE", sheet=sheet, row=row_no,
                            column=f"{col_letter(columns[enkat])} ({enkat})", group_sheet=group.sheet_name,
                            first_row=first_rows[group.code]))
            continue
        first_rows[group.code] = row_no
        counts = {}
        for col in (asked_col, answered_col):
            raw = get(r, col)
            text = (_text(raw) or "").replace(" ", "")
            if COUNT_RE.fullmatch(text) and int(text) > MAX_COUNT:
                out.add(problem("COUNT_TOO_LARGE", sheet=sheet, row=row_no,
                                column=f"{col_letter(columns[col])} ({col})", value=_large(int(text)),
                                limit=f"{MAX_COUNT:,}".replace(",", " ")))
            elif COUNT_RE.fullmatch(text):
                counts[col] = int(text)
            else:
                out.add(problem("COUNT_INVALID", sheet=sheet, row=row_no,
                                column=f"{col_letter(columns[col])} ({col})", value=_display(raw)))
        if len(counts) == 2 and counts[answered_col] > counts[asked_col]:
            out.add(problem("COUNT_INCONSISTENT", sheet=sheet, row=row_no,
                            column=f"{col_letter(columns[answered_col])} ({answered_col})",
                            answered=counts[answered_col], asked=counts[asked_col]))
        elif len(counts) == 2:
            out.collection.append((group.code, counts[asked_col], counts[answered_col]))
            out.groups_with_counts.add(group.code)


def _validate_metadata(rows: list[list], name: SubmissionName, out: Parsed) -> None:
    found = {}
    for row_no, r in enumerate(rows, start=1):
        key = (_text(r[0]) if r else None) or ""
        canonical = METADATA_FIELDS.get(key.casefold().rstrip(":"))
        if canonical:
            found[canonical] = (row_no, _text(r[1]) if len(r) > 1 else None)
    for canonical in METADATA_FIELDS.values():
        if not found.get(canonical, (0, None))[1]:
            out.add(problem("METADATA_MISSING", sheet=METADATA_SHEET, field=canonical))
    row_no, code = found.get("Förbundskod", (0, None))
    if code and code.upper() != name.federation_code:
        out.add(problem("FEDERATION_MISMATCH", sheet=METADATA_SHEET, row=row_no, column="B",
                        found=code, expected=name.federation_code))
    row_no, period = found.get("Mätperiod", (0, None))
    if period:
        parsed = parse_period(period)
        if parsed is None:
            out.add(problem("PERIOD_INVALID", sheet=METADATA_SHEET, row=row_no, column="B", value=period))
        elif parsed != name.period:
            out.add(problem("PERIOD_MISMATCH", sheet=METADATA_SHEET, row=row_no, column="B",
                            found=parsed, expected=name.period))


def _report_personal_numbers(sheets: Sheets, name: SubmissionName, file_name: str | None, out: Parsed) -> None:
    """Every sheet name and every cell, read as text: a personnummer anywhere rejects the file.

    Questionnaires are anonymous, so a number in any cell (a serial, an insats, a note)
    must not reach the lake. The message names the place, never the value.
    """
    for sheet, rows in sheets.sheets.items():
        if contains_personal_number(sheet):
            out.add(problem("PERSONAL_NUMBER_IN_TEXT", sheet=sheet, place=f"Namnet på bladet {sheet}"))
        header = rows[0] if rows else []
        for row_index, row in enumerate(rows):
            for col_index, cell in enumerate(row):
                # Too short for a personnummer as text (ten characters at least), decided without making the
                # text: a whole number of at most nine characters, an ASCII text of fewer than ten.
                kind = type(cell)
                if kind is float:
                    if cell.is_integer() and -100_000_000 < cell < 1_000_000_000:
                        continue
                elif kind is str:
                    if len(cell) < 10 and cell.isascii():
                        continue
                elif cell is None or kind is int and -100_000_000 < cell < 1_000_000_000:
                    continue
                if isinstance(cell, (bool, date)):  # datetime is a date: neither can hold a number
                    continue
                text = _text(cell)
                if text is None or len(text) < 10 or not contains_personal_number(text):
                    continue
                row_no, letter = row_index + 1, col_letter(col_index)
                head = _text(header[col_index]) if col_index < len(header) and row_index else None
                if name.fmt == "csv":
                    place = f"Rad {row_no}, kolumn {head or letter}, i filen {file_name or sheet}"
                else:
                    place = f"Cellen {letter}{row_no} på bladet {sheet} (kolumn {head or letter})"
                out.add(problem("PERSONAL_NUMBER_IN_TEXT", sheet=sheet, row=row_no,
                                column=f"{letter} ({head})" if head else letter, place=place))


def sheet_key(sheet_name: str) -> str:
    """How sheet names are matched: NFC, case and spaces ignored (so 'styrelse ' is 'Styrelse')."""
    return "".join(unicodedata.normalize("NFC", sheet_name).split()).casefold()


def validate(sheets: Sheets, name: SubmissionName, catalogue: Catalogue, max_rows: int, *,
             file_name: str | None = None) -> Parsed:
    out = Parsed()
    _report_personal_numbers(sheets, name, file_name, out)
    by_key: dict[str, str] = {}
    for sheet_name in sheets.sheets:
        key = sheet_key(sheet_name)
        if key in by_key:  # never merged: one of them would be lost
            out.add(problem("SHEET_DUPLICATE", sheet=sheet_name, sheets=f"'{by_key[key]}' och '{sheet_name}'"))
            continue
        by_key[key] = sheet_name
    if name.fmt == "xlsx":
        for required in (METADATA_SHEET, COLLECTION_SHEET):
            if required.casefold() not in by_key:
                out.add(problem("SHEET_MISSING", sheet=required))
        if METADATA_SHEET.casefold() in by_key:
            meta = by_key[METADATA_SHEET.casefold()]
            _report_findings(meta, sheets.sheets[meta], sheets.findings.get(meta), out, data_sheet=False)
            _validate_metadata(sheets.sheets[meta], name, out)

    expected_names = ", ".join([METADATA_SHEET, COLLECTION_SHEET]
                               + [g.sheet_name for g in catalogue.groups_in(name.period)])
    for key, sheet in by_key.items():
        rows = sheets.sheets[sheet]
        if key == METADATA_SHEET.casefold() or key in REFERENCE_SHEETS:
            continue
        extra = {"total_rows": sheets.row_counts.get(sheet), "findings": sheets.findings.get(sheet)}
        if key == COLLECTION_SHEET.casefold():
            _validate_collection_sheet(sheet, rows, name, catalogue, out, max_rows=max_rows, **extra)
            continue
        extra["date1904"] = sheets.date1904
        group = catalogue.group_by_sheet(unicodedata.normalize("NFC", sheet))
        if group is None:
            if _data_rows(rows) or (rows and not _is_blank_row(rows[0])):
                out.add(problem("SHEET_UNKNOWN", sheet=sheet, expected=expected_names))
            continue  # an empty extra sheet (Excel's "Blad1") carries nothing
        _validate_group_sheet(sheet, rows, group, name, catalogue, max_rows, out, **extra)

    # NO_DATA only when no more specific problem already says why no rows were read.
    explained = any(p.code in {"GROUP_NOT_OPEN", "TOO_MANY_ROWS", "MERGED_CELLS"} for p in out.problems)
    if not (out.groups_with_rows or out.groups_with_counts) and not explained:
        out.add(problem("NO_DATA"))
    if name.fmt == "xlsx":
        _check_collection_against_rows(out, catalogue)
    if out.not_listed:
        out.problems.append(problem("TOO_MANY_PROBLEMS", count=out.not_listed, listed=MAX_PROBLEMS))
    return out


def _check_collection_against_rows(out: Parsed, catalogue: Catalogue) -> None:
    """Warnings only: counts are the federation's own, rows are what we received."""
    rows_per_group: dict[str, int] = {}
    for respondent in out.respondents:
        rows_per_group[respondent[0]] = rows_per_group.get(respondent[0], 0) + 1
    counted = {group: answered for group, _, answered in out.collection}
    for group_code, rows in rows_per_group.items():
        sheet = next(g.sheet_name for g in catalogue.groups if g.code == group_code)
        if group_code not in counted:
            out.add(problem("COLLECTION_MISSING", sheet=COLLECTION_SHEET, group_sheet=sheet))
        elif counted[group_code] != rows:
            out.add(problem("COLLECTION_ROWS_DIFFER", sheet=COLLECTION_SHEET, group_sheet=sheet,
                            answered=counted[group_code], rows=rows))
