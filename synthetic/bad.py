"""The bad-input corpus: faulty submissions and extracts, and tricky valid ones.

`write_bad_corpus(out, ...)` writes survey files into `out/` (the inbox) and
register extracts into `out/register/`, each named for its fault, plus a
manifest `out/.corpus.json` (the leading dot keeps ingest from picking it up):

    {"files": {"<name>": {"kind": "survey"|"register", "path": "register/<name>" or "<name>",
                          "fault": "...", "expected": "accepted"|"rejected"|"known"|"refused",
                          "errors": [codes], "warnings": [codes]}, ...}}

Every fault is real in the bytes: an encrypted OOXML package (msoffcrypto-tool),
a zip cut short, merged and hidden rows written by xlsxwriter, formulas with and
without a saved value, a workbook saved by LibreOffice (a committed fixture, see
`make_libreoffice_fixtures`), a 200,000-row CSV. Everything is seeded and fixed
in time, so the same seed gives the same bytes.

Each survey file gets a federation × period of its own (periods after the
`small` profile's), so a test can check that nothing of a rejected file reached
the warehouse, and that every valid one is the current submission of its cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest import mock

import msoffcrypto
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter
from msoffcrypto.method import ecma376_agile
from msoffcrypto.method.container import ecma376_encrypted

from core.catalogue import Catalogue, period_bounds

# Every corpus period (2023/24 on) has the same columns, so edits can locate them in 2025/26.
from ingest.contract import ANSWERED_ON, COLLECTION_SHEET, GENDER, METADATA_SHEET, SERIAL
from ingest.personnummer import format_number, luhn_digit
from ingest.template import Respondent, SubmissionContent, group_columns, respondent_cells, write_workbook

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MANIFEST = ".corpus.json"
PASSWORD = "nns-korpus"  # the encrypted workbook's password, so a person can open it
CREATED = datetime(2026, 10, 1)
MTIME = datetime(2026, 10, 15, 9, 0).timestamp()
CORPUS_PERIODS = ("2025/26", "2024/25", "2023/24")  # none of them in the small profile
LIBREOFFICE_SLOT = ("SF50", "2023/24")  # the committed LibreOffice fixture's federation × period
SUS_HEADER = ["personnummer", "anonym", "kon", "fodelsear", "forbund", "insats", "startdatum", "slutdatum",
              "forsorjning_start", "forsorjning_slut", "ar_offentlig_forsorjning_fore", "avslutsorsak"]
INCOME_HEADER = ["personnummer", "manad", "kategori", "belopp"]
BIG_ROWS = 200_000


@dataclass
class Entry:
    kind: str  # survey | register
    path: str  # relative to the corpus folder
    fault: str
    expected: str  # accepted | rejected
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    federation_code: str | None = None
    period: str | None = None


def _pnr(birth: str, serial: str) -> str:
    """A made-up, valid 12-digit number: YYYYMMDD + NNN + Luhn digit."""
    return birth + serial + str(luhn_digit(birth[2:] + serial))


class Corpus:
    def __init__(self, out: Path, catalogue: Catalogue, seed: int):
        self.out = out
        self.catalogue = catalogue
        self.seed = seed
        self.entries: dict[str, Entry] = {}
        self._slots = self._free_slots()

    # --- bookkeeping ---------------------------------------------------------------

    def _free_slots(self):
        for period in CORPUS_PERIODS:
            for federation in self.catalogue.federations_in(period):
                if (federation.code, period) != LIBREOFFICE_SLOT:
                    yield federation.code, period

    def slot(self) -> tuple[str, str]:
        return next(self._slots)

    def add(self, name: str, fault: str, *, errors=(), warnings=(), kind="survey",
            federation_code=None, period=None, mtime: float = MTIME, folder: str | None = None) -> None:
        """Record a corpus file. kind survey | register | refused (never taken: left alone)."""
        assert name not in self.entries, name
        folder = folder if folder is not None else ("register" if kind == "register" else "")
        path = f"{folder}/{name}" if folder else name
        target = self.out / path
        # A fixed, past modification time: the simulated delivery, recorded as the product's first
        # sighting (synthetic._seen_when_delivered) so reruns agree; it also marks the file as
        # delivered (ingest/inbox.py).
        os.utime(target, (mtime, mtime), follow_symlinks=False)
        expected = "refused" if kind == "refused" else "rejected" if errors else "accepted"
        self.entries[name] = Entry(kind, path, fault, expected,
                                   sorted(set(errors)), sorted(set(warnings)), federation_code, period)

    def rng(self, *keys: str) -> np.random.Generator:
        digest = hashlib.sha256("|".join([str(self.seed), "bad", *keys]).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    # --- survey content ---------------------------------------------------------------

    def content(self, code: str, period: str, *, groups=("deltagare", "styrelse"), n: int = 6) -> SubmissionContent:
        """A small valid submission: n rows per questionnaire, counts that agree with them."""
        rng = self.rng("content", code, period)
        start, _ = period_bounds(period)
        content = SubmissionContent(code, period, contact="Indikatorsamordnare")
        for group_code in groups:
            group = next(g for g in self.catalogue.groups if g.code == group_code)
            rows = []
            for i in range(1, n + 1):
                answers = {q.code: (int(rng.integers(1, 7)) if rng.random() > 0.1 else "Vet ej")
                           for q in self.catalogue.questions_for(group_code, period)}
                rows.append(Respondent(
                    i, start + timedelta(days=100 + 3 * i), ("Kvinna", "Man")[i % 2], answers,
                    age_group="25-39" if group.asks_age_group else None,
                    insats="STEG1" if group.asks_insats else None))
            content.respondents[group_code] = rows
            content.collection[group_code] = (2 * n, n)
        return content

    def column(self, group_code: str, period: str, header: str) -> int:
        group = next(g for g in self.catalogue.groups if g.code == group_code)
        return group_columns(group, self.catalogue, period).index(header)

    def sheet_rows(self, content: SubmissionContent, group_code: str) -> list[list]:
        group = next(g for g in self.catalogue.groups if g.code == group_code)
        return [group_columns(group, self.catalogue, content.period)] + [
            respondent_cells(r, group, self.catalogue, content.period) for r in content.respondents[group_code]]

    def sheet_name(self, group_code: str) -> str:
        return next(g.sheet_name for g in self.catalogue.groups if g.code == group_code)

    # --- writers ------------------------------------------------------------------------

    def workbook(self, name: str, content: SubmissionContent, edit=None, *, with_guidance=False) -> Path:
        path = self.out / name
        write_workbook(path, content, self.catalogue, with_guidance=with_guidance, created=CREATED, edit=edit)
        return path

    def workbook_bytes(self, content: SubmissionContent, edit=None) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "book.xlsx"
            write_workbook(path, content, self.catalogue, with_guidance=False, created=CREATED, edit=edit)
            return path.read_bytes()

    def csv(self, name: str, rows: list[list], *, encoding="utf-8", delimiter=";", folder: str = "") -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
        for row in rows:
            writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row])
        path = self.out / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue().encode(encoding))
        return path

    def raw(self, name: str, data: bytes, *, folder: str = "") -> Path:
        path = self.out / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def encrypt(self, data: bytes, key: str) -> bytes:
        """Real ECMA-376 agile encryption (what Excel's "Encrypt with password" writes).

        msoffcrypto-tool draws its salts and keys from `secrets` and stamps the container
        with the current time; both are replaced here so the same seed gives the same bytes."""
        counter = itertools.count()

        def seeded_bytes(size: int) -> bytes:  # instead of secrets.token_bytes: same seed, same bytes
            out = b""
            while len(out) < size:
                out += hashlib.sha256(f"{self.seed}|{key}|{next(counter)}".encode()).digest()
            return out[:size]

        to_filetime = ecma376_encrypted.datetime2filetime
        encrypted = io.BytesIO()
        with (mock.patch.object(ecma376_agile, "_random_buffer", seeded_bytes),
              mock.patch.object(ecma376_encrypted, "datetime2filetime", lambda _now: to_filetime(CREATED))):
            msoffcrypto.OfficeFile(io.BytesIO(data)).encrypt(PASSWORD, encrypted)
        return encrypted.getvalue()


def _clear(ws, row: int, col: int) -> None:
    """Remove a written cell (xlsxwriter ignores a blank without a format, so delete it from its table)."""
    ws.table.get(row, {}).pop(col, None)


def _stem(code: str, period: str) -> str:
    return f"{code}_{period.replace('/', '-')}"


# --- faulty survey files ---------------------------------------------------------------------

def _survey_faults(c: Corpus) -> None:
    def simple(fault_name: str, fault: str, errors, edit=None, *, groups=("deltagare", "styrelse"),
               change=None, warnings=()):
        code, period = c.slot()
        content = c.content(code, period, groups=groups)
        if change:
            change(content)
        name = f"{_stem(code, period)}_{fault_name}.xlsx"
        c.workbook(name, content, edit)
        c.add(name, fault, errors=errors, warnings=warnings, federation_code=code, period=period)

    def rename_sheet(wb, sheets):
        sheets["Deltagare"].name = "Deltagarenkät"
    simple("bladnamn-andrat", "the Deltagare sheet renamed to Deltagarenkät", ["SHEET_UNKNOWN"], rename_sheet)

    # A missing column, as a person deletes one in Excel: the cells to its right shift left.
    code, period = c.slot()
    content = c.content(code, period)
    name = f"{_stem(code, period)}_kolumn-saknas.xlsx"

    def delete_column(wb, sheets, content=content):
        ws = sheets["Deltagare"]
        rows = c.sheet_rows(content, "deltagare")
        col = rows[0].index("D02")
        for r, row in enumerate(rows):
            shifted = row[:col] + row[col + 1:]
            for i, value in enumerate(shifted):
                if value is None:
                    _clear(ws, r, i)
                else:
                    ws.write(r, i, value)
            _clear(ws, r, len(row) - 1)
    c.workbook(name, content, delete_column)
    c.add(name, "column D02 deleted from the Deltagare sheet", errors=["COLUMN_MISSING"],
          federation_code=code, period=period)

    def extra_question(wb, sheets):
        ws = sheets["Deltagare"]
        col = len(c.sheet_rows(c.content("SF01", "2025/26"), "deltagare")[0])
        ws.write_string(0, col, "D99")
        for r in range(1, 7):
            ws.write_number(r, col, 4)
    simple("okand-fraga", "an extra question column D99 that is in no questionnaire", ["COLUMN_UNKNOWN"],
           extra_question)

    def text_answer(content):
        content.respondents["deltagare"][1].answers["D01"] = "ganska ofta"
    simple("text-i-svarscell", "free text 'ganska ofta' in an answer cell", ["ANSWER_INVALID"], change=text_answer)

    def zero_and_seven(content):
        content.respondents["deltagare"][0].answers["D01"] = 0
        content.respondents["styrelse"][2].answers["S02"] = 7
    simple("svar-0-och-7", "answers 0 and 7 on a 1-6 scale", ["ANSWER_OUT_OF_RANGE"], change=zero_and_seven)

    def duplicate_serial(content):
        content.respondents["deltagare"][4].serial = 2
    simple("dubbla-lopnummer", "serial number 2 used twice on Deltagare", ["SERIAL_DUPLICATE"],
           change=duplicate_serial)

    def date_outside(content):
        start, _ = period_bounds(content.period)
        content.respondents["styrelse"][0].answered_on = start - timedelta(days=1)
    simple("datum-utanfor-perioden", "an answer dated the day before the period starts", ["DATE_OUTSIDE_PERIOD"],
           change=date_outside)

    def serial_missing(content):
        content.respondents["deltagare"][2].serial = None
    simple("lopnummer-saknas", "a row without a serial number", ["SERIAL_MISSING"], change=serial_missing)

    def date_missing(content):
        content.respondents["deltagare"][3].answered_on = None
    simple("datum-saknas", "a row without a date", ["DATE_MISSING"], change=date_missing)

    def date_text(content):
        content.respondents["deltagare"][0].answered_on = "14/03/2026"
    simple("datum-som-text", "a date written as text 14/03/2026", ["DATE_INVALID"], change=date_text)

    def bad_gender(content):
        content.respondents["styrelse"][1].gender = "X"
    simple("ogiltigt-kon", "Kön 'X'", ["CODE_INVALID"], change=bad_gender)

    def half_answer(content):
        content.respondents["deltagare"][1].answers["D03"] = 4.5
    simple("svar-4,5", "a non-whole answer 4.5", ["ANSWER_INVALID"], change=half_answer)

    def counts_inconsistent(content):
        content.collection["styrelse"] = (3, 6)
    simple("fler-besvarade-an-tillfragade", "Insamling: 6 answered of 3 asked (so no counts for Styrelse)",
           ["COUNT_INCONSISTENT"], change=counts_inconsistent, warnings=["COLLECTION_MISSING"])

    def duplicate_column(wb, sheets):
        ws = sheets["Styrelse"]
        col = len(c.sheet_rows(c.content("SF01", "2025/26"), "styrelse")[0])
        ws.write_string(0, col, "S01")
        for r in range(1, 7):
            ws.write_number(r, col, 3)
    simple("dubbel-kolumn", "the column S01 twice on Styrelse", ["COLUMN_DUPLICATE"], duplicate_column)

    def old_question(wb, sheets):
        ws = sheets["Personal"]
        ws.write_string(0, c.column("personal", "2025/26", "P08R"), "P08")
    simple("gammal-fragekod-P08", "the staff question P08 after its revision to P08R",
           ["COLUMN_UNKNOWN", "COLUMN_MISSING"], old_question, groups=("personal",))

    def hidden_notes(wb, sheets):
        ws = wb.add_worksheet("Anteckningar")
        ws.write_string(0, 0, "Påminnelse skickad till tre deltagare")
        ws.hide()
    simple("dolt-extra-blad", "a hidden extra sheet with notes", ["SHEET_UNKNOWN"], hidden_notes)

    def merged_header(wb, sheets):
        ws = sheets["Deltagare"]
        col = c.column("deltagare", "2025/26", "D01")
        ws.merge_range(0, col, 0, col + 1, "D01")  # D01 and D02 under one header
    simple("sammanfogade-rubriker", "header cells D01 and D02 merged into one", ["MERGED_CELLS"], merged_header)

    def formulas_without_values(wb, sheets):
        ws = sheets["Deltagare"]
        col = c.column("deltagare", "2025/26", "D01")
        for r in range(1, 7):  # what a script (openpyxl and the like) writes: no saved result
            ws.write_formula(r, col, f"=MIN(6,{r}+2)", None, "")
    simple("formler-utan-varden", "answers as formulas saved without a computed value", ["FORMULA_NO_VALUE"],
           formulas_without_values)

    def error_value(wb, sheets):
        ws = sheets["Styrelse"]
        ws.write_formula(2, c.column("styrelse", "2025/26", "S01"), "=4/0", None, "#DIV/0!")
    simple("felvarde-i-cell", "an answer cell holding the error #DIV/0!", ["CELL_ERROR_VALUE"], error_value)

    def period_mismatch(wb, sheets):
        sheets[METADATA_SHEET].write_string(2, 1, "2021/22")
    simple("matperiod-stammer-inte", "Metadata says 2021/22, the file name another period", ["PERIOD_MISMATCH"],
           period_mismatch)

    def federation_mismatch(wb, sheets):
        sheets[METADATA_SHEET].write_string(1, 1, "SF02")
    simple("forbundskod-stammer-inte", "Metadata names SF02, the file name another federation",
           ["FEDERATION_MISMATCH"], federation_mismatch)

    def metadata_missing(wb, sheets):
        _clear(sheets[METADATA_SHEET], 1, 1)
    simple("forbundskod-saknas", "Förbundskod left blank on Metadata", ["METADATA_MISSING"], metadata_missing)

    def counts_formula(wb, sheets):
        ws = sheets[COLLECTION_SHEET]
        ws.write_formula(1, 1, "=2*C2", None, "")  # Insamling counts as formulas without values too
    simple("insamling-formel-utan-varde", "Insamling's count as a formula with no saved value (read as blank)",
           ["FORMULA_NO_VALUE", "COUNT_INVALID"], counts_formula, warnings=["COLLECTION_MISSING"])

    # A questionnaire that is not part of the period: Medremittent starts in 2021/22.
    code, period = "SF30", "2019/20"
    content = c.content(code, period, groups=("deltagare",))

    def add_medremittent(wb, sheets):
        ws = wb.add_worksheet("Medremittent")
        ws.write_row(0, 0, [SERIAL, ANSWERED_ON, GENDER, "M01", "M02", "M03", "M16"])
        for r in range(1, 4):
            ws.write_row(r, 0, [r, "2020-03-02", "Kvinna", 4, 5, 3, 6])
    name = f"{_stem(code, period)}_enkat-ej-oppen.xlsx"
    c.workbook(name, content, add_medremittent)
    c.add(name, "a Medremittent sheet in 2019/20, before that questionnaire existed", errors=["GROUP_NOT_OPEN"],
          federation_code=code, period=period)

    # The federation code: one that does not exist, one that has left, a name without the pattern.
    content = c.content("SF99", "2025/26")
    c.workbook("SF99_2025-26_okant-forbund.xlsx", content)
    c.add("SF99_2025-26_okant-forbund.xlsx", "federation code SF99 does not exist", errors=["FEDERATION_UNKNOWN"],
          federation_code="SF99", period="2025/26")
    content = c.content("SF10", "2024/25")
    c.workbook("SF10_2024-25_forbund-har-lamnat.xlsx", content)
    c.add("SF10_2024-25_forbund-har-lamnat.xlsx", "SF10 (Finsam Falun) left the indicator work in 2020",
          errors=["FEDERATION_INACTIVE"], federation_code="SF10", period="2024/25")
    code, period = c.slot()
    name = f"{code}-{period.replace('/', '-')}-fel-filnamn.xlsx"
    c.workbook(name, c.content(code, period))
    c.add(name, "a file name with hyphens instead of underscores", errors=["FILE_NAME"])
    code, period = c.slot()
    name = f"{_stem(code, period)}.ods"
    c.raw(name, (FIXTURES / "libreoffice-2.ods").read_bytes())
    c.add(name, "a LibreOffice workbook in its own format, .ods", errors=["FILE_TYPE"])

    # Workbooks that cannot be read.
    code, period = c.slot()
    data = c.workbook_bytes(c.content(code, period))
    name = f"{_stem(code, period)}_avklippt.xlsx"
    c.raw(name, data[: len(data) * 2 // 3])
    c.add(name, "a workbook cut off after two thirds of its bytes", errors=["FILE_UNREADABLE"],
          federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_losenordsskyddad.xlsx"
    c.raw(name, c.encrypt(c.workbook_bytes(c.content(code, period)), name))
    c.add(name, f"a valid workbook encrypted with a password ({PASSWORD})", errors=["FILE_ENCRYPTED"],
          federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_tom-fil.xlsx"
    c.raw(name, b"")
    c.add(name, "a file of 0 bytes", errors=["FILE_UNREADABLE"], federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_xls-med-fel-filandelse.xlsx"
    c.raw(name, (FIXTURES / "libreoffice.xls").read_bytes())
    c.add(name, "an .xls workbook renamed to .xlsx", errors=["FILE_UNREADABLE"], federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_ods-med-fel-filandelse.xlsx"
    c.raw(name, (FIXTURES / "libreoffice.ods").read_bytes())
    c.add(name, "an OpenDocument spreadsheet renamed to .xlsx", errors=["FILE_UNREADABLE"],
          federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_Deltagare_xlsx-som-csv.csv"
    c.raw(name, c.workbook_bytes(c.content(code, period)))
    c.add(name, "a workbook saved with a .csv extension", errors=["FILE_UNREADABLE"],
          federation_code=code, period=period)

    # Workbooks with nothing in them.
    code, period = c.slot()
    name = f"{_stem(code, period)}_tom-arbetsbok.xlsx"
    wb = xlsxwriter.Workbook(str(c.out / name))
    wb.set_properties({"created": CREATED})
    wb.add_worksheet("Blad1")
    wb.close()
    c.add(name, "an empty workbook: one empty sheet Blad1", errors=["SHEET_MISSING", "NO_DATA"],
          federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_tom-mall.xlsx"
    c.workbook(name, SubmissionContent(code, period), with_guidance=True)
    c.add(name, "the template sent back without filling it in", errors=["NO_DATA"],
          federation_code=code, period=period)

    # CSV files.
    code, period = c.slot()
    content = c.content(code, period)
    rows = c.sheet_rows(content, "styrelse")
    s02 = rows[0].index("S02")
    rows[2][s02] = "4,5"
    rows[3][s02] = "3,0"
    name = f"{_stem(code, period)}_Styrelse_cp1252-4,5.csv"
    c.csv(name, rows, encoding="cp1252")
    c.add(name, "Windows-1252 CSV with decimal commas; 4,5 is not a whole answer (3,0 is fine)",
          errors=["ANSWER_INVALID"], federation_code=code, period=period)

    code, period = c.slot()
    content = c.content(code, period)

    def only_formulas(wb, sheets, content=content):
        ws = sheets["Styrelse"]
        for r, row in enumerate(c.sheet_rows(content, "styrelse")[1:], start=1):
            for col in range(len(row)):
                ws.write_formula(r, col, f"=Deltagare!A{r + 1}", None, "")
    name = f"{_stem(code, period)}_bara-formler.xlsx"
    c.workbook(name, content, only_formulas)
    c.add(name, "every Styrelse cell a formula with no saved value: the sheet reads as empty",
          errors=["FORMULA_NO_VALUE"], federation_code=code, period=period)

    code, period = c.slot()
    name = f"{_stem(code, period)}_Deltagare_{BIG_ROWS}-rader.csv"
    _write_big_csv(c, c.out / name, code, period)
    c.add(name, f"{BIG_ROWS:,} rows on Deltagare: far more than one federation has".replace(",", " "),
          errors=["TOO_MANY_ROWS"], federation_code=code, period=period)


def _write_big_csv(c: Corpus, path: Path, code: str, period: str) -> None:
    """200,000 valid-looking rows, written as text in one go (a second or two)."""
    header = c.sheet_rows(c.content(code, period, groups=("deltagare",), n=1), "deltagare")[0]
    n_questions = len(header) - 5
    start, _ = period_bounds(period)
    days = [(start + timedelta(days=d)).isoformat() for d in range(300)]
    lines = [";".join(header)]
    answers = [";".join(str(1 + (i + j) % 6) for j in range(n_questions)) for i in range(6)]
    lines += [f"{i};{days[i % 300]};{('Kvinna', 'Man')[i % 2]};25-39;STEG1;{answers[i % 6]}"
              for i in range(1, BIG_ROWS + 1)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))


# --- tricky survey files that are valid --------------------------------------------------------

def _survey_tricky(c: Corpus) -> None:
    code, period = c.slot()
    content = c.content(code, period, groups=("styrelse",))
    rows = c.sheet_rows(content, "styrelse")
    for row in rows[1:]:
        for i, value in enumerate(row):
            if isinstance(value, int) and i > 2:
                row[i] = f"{value},0"  # Swedish Excel's decimal comma
    name = f"{_stem(code, period)}_Styrelse_cp1252-decimalkomma.csv"
    c.csv(name, rows, encoding="cp1252")
    c.add(name, "Windows-1252 CSV (Kön in cp1252) with answers written 4,0", federation_code=code, period=period)

    code, period = c.slot()
    name = f"{_stem(code, period)}_Styrelse_utf8-bom.csv"
    c.csv(name, c.sheet_rows(c.content(code, period, groups=("styrelse",)), "styrelse"), encoding="utf-8-sig")
    c.add(name, "UTF-8 CSV with a byte-order mark before Löpnummer", federation_code=code, period=period)

    code, period = c.slot()
    name = f"{_stem(code, period)}_Deltagare_utf16-tabb.csv"
    c.csv(name, c.sheet_rows(c.content(code, period, groups=("deltagare",)), "deltagare"), encoding="utf-16",
          delimiter="\t")
    c.add(name, "UTF-16 tab-separated text (Excel's 'Unicode text')", federation_code=code, period=period)

    labels = ["  oFTA ", "ALLTID", "för  DET mesta", " vet EJ ", "Ej Aktuellt", "aldrig", "SÄLLAN ", "ibland"]

    def mixed_case(content):
        for k, r in enumerate(content.respondents["deltagare"] + content.respondents["styrelse"]):
            r.answers = {q: labels[(k + j) % len(labels)] for j, q in enumerate(r.answers)}
            r.gender = ("  kvinna", "MAN ", "k", " m")[k % 4]
    code, period = c.slot()
    content = c.content(code, period)
    mixed_case(content)
    name = f"{_stem(code, period)}_etiketter-blandade-versaler.xlsx"
    c.workbook(name, content)
    c.add(name, "answer and Kön labels in mixed case with stray spaces", federation_code=code, period=period)

    code, period = c.slot()
    content = c.content(code, period)

    def cached_formulas(wb, sheets, content=content):
        ws = sheets["Deltagare"]
        for r, respondent in enumerate(content.respondents["deltagare"], start=1):
            ws.write_formula(r, 0, "=ROW()-1", None, r)  # the serial as a formula
            col = c.column("deltagare", period, "D01")
            value = respondent.answers["D01"]
            if isinstance(value, int):
                ws.write_formula(r, col, f"=MIN(6,{value}+0)", None, value)
        sheets[COLLECTION_SHEET].write_formula(1, 1, "=2*C2", None, 12)
    name = f"{_stem(code, period)}_formler-med-varden.xlsx"
    c.workbook(name, content, cached_formulas)
    c.add(name, "formulas (serials, answers, a count) saved with their computed values",
          federation_code=code, period=period)

    code, period = c.slot()
    content = c.content(code, period)

    def serial_dates(wb, sheets, content=content):
        ws = sheets["Deltagare"]
        col = c.column("deltagare", period, ANSWERED_ON)
        for r, respondent in enumerate(content.respondents["deltagare"], start=1):
            ws.write_number(r, col, (respondent.answered_on - date(1899, 12, 30)).days)
    name = f"{_stem(code, period)}_datum-som-serienummer.xlsx"
    c.workbook(name, content, serial_dates)
    c.add(name, "dates as unformatted Excel serial numbers", federation_code=code, period=period)

    code, period = c.slot()
    content = c.content(code, period)

    def hide_rows(wb, sheets):
        for row in (2, 4):  # Excel rows 3 and 5
            sheets["Deltagare"].set_row(row, None, None, {"hidden": True})
    name = f"{_stem(code, period)}_dolda-rader.xlsx"
    c.workbook(name, content, hide_rows)
    c.add(name, "two hidden questionnaire rows: read like the others, with a warning",
          warnings=["HIDDEN_ROWS"], federation_code=code, period=period)

    code, period = c.slot()
    name = f"{code.lower()}_{period.replace('/', '-')}_gemener.XLSX"
    c.workbook(name, c.content(code, period))
    c.add(name, "lower-case federation code and upper-case extension", federation_code=code, period=period)

    code, period = LIBREOFFICE_SLOT
    name = f"{_stem(code, period)}_libreoffice.xlsx"
    c.raw(name, (FIXTURES / "libreoffice.xlsx").read_bytes())
    c.add(name, "a workbook saved by LibreOffice Calc 7.4 (committed fixture)", federation_code=code, period=period)


# --- personnummer where none belongs -----------------------------------------------------------

def _survey_personal_numbers(c: Corpus) -> None:
    """After the other survey files, so their federation × period slots stay as documented."""
    code, period = c.slot()
    content = c.content(code, period)
    content.respondents["deltagare"][1].serial = format_number(PLANTED, "12-")
    content.respondents["deltagare"][3].insats = f"Kurs {format_number(PLANTED_SAMORDNING, '10-')} vt"
    name = f"{_stem(code, period)}_personnummer-i-lopnummer-och-insats.xlsx"
    c.workbook(name, content)
    c.add(name, "a personnummer as a serial number and a samordningsnummer inside an insats",
          errors=["PERSONAL_NUMBER_IN_TEXT"], federation_code=code, period=period)

    code, period = c.slot()
    rows = c.sheet_rows(c.content(code, period, groups=("deltagare",)), "deltagare")
    rows[2][0] = format_number(PLANTED, "10")
    name = f"{_stem(code, period)}_Deltagare_personnummer-i-lopnummer.csv"
    c.csv(name, rows)
    c.add(name, "a CSV with a 10-digit personnummer as a serial number", errors=["PERSONAL_NUMBER_IN_TEXT"],
          federation_code=code, period=period)

    code, period = c.slot()
    name = f"{_stem(code, period)}_{format_number(PLANTED, '12-')}.xlsx"
    c.workbook(name, c.content(code, period))
    c.add(name, "a personnummer in the file name: refused while listing (the name never reaches Airflow)",
          errors=["PERSONAL_NUMBER_IN_NAME"], kind="refused", federation_code=code, period=period)


# --- register extracts ------------------------------------------------------------------------

# Numbers planted where no personnummer belongs (cells, columns, file names): nothing may quote them.
PLANTED = _pnr("19790521", "337")
PLANTED_SAMORDNING = _pnr("19830467", "218")  # day 7 + 60
WOMAN = _pnr("19900702", "246")
MAN = _pnr("19850314", "123")
SAMORDNING = _pnr("19880372", "154")  # day 12 + 60
CENTENARIAN = _pnr("19200315", "282")  # 10-digit form with '+'


def _sus_row(pnr: str, kon: str, *, anonym="0", start="2018-02-01", end="2018-11-30", forbund="SF07",
             birth_year=None) -> list[str]:
    year = birth_year or (pnr[:4] if pnr and len(pnr) == 12 and pnr.isdigit() else "1988")
    return [pnr, anonym, kon, str(year), forbund, "STEG1", start, end, "a_kassa", "lon", "2", "forvarvsarbete"]


def _sus_rows(n: int = 6) -> list[list[str]]:
    people = [(WOMAN, "K"), (MAN, "M"), (SAMORDNING, "M"), (_pnr("19950812", "284"), "K"),
              (_pnr("19791130", "331"), "M"), (_pnr("20010101", "442"), "K")]
    return [_sus_row(format_number(p, "12-"), kon) for p, kon in people[:n]]


def _register(c: Corpus) -> None:
    reg = "register"

    def sus(name, rows, fault, errors=(), *, header=SUS_HEADER, encoding="utf-8"):
        c.csv(name, [header] + rows, encoding=encoding, folder=reg)
        c.add(name, fault, errors=errors, kind="register")

    rows = _sus_rows()
    rows[2][0] = rows[2][0][:-1] + str((int(rows[2][0][-1]) + 1) % 10)
    sus("sus_deltagare_2018-06_fel-kontrollsiffra.csv", rows, "a personnummer with a wrong Luhn digit",
        ["PNR_INVALID"])
    rows = _sus_rows()
    rows[1][0] = format_number(_pnr("20991231", "123"), "12-")  # a valid check digit, a date to come
    sus("sus_deltagare_2018-07_fodd-i-framtiden.csv", rows, "a personnummer born in 2099", ["PNR_INVALID"])
    rows = _sus_rows()
    rows[3][6], rows[3][7] = "2018-09-01", "2018-03-01"
    sus("sus_deltagare_2018-08_slut-fore-start.csv", rows, "a SUS row whose end precedes its start",
        ["END_BEFORE_START"])
    rows = [r[:4] + r[5:] for r in _sus_rows()]
    sus("sus_deltagare_2018-09_kolumn-saknas.csv", rows, "the column forbund missing", ["REGISTER_COLUMNS"],
        header=SUS_HEADER[:4] + SUS_HEADER[5:])
    sus("sus_deltagare_2018-10_tom.csv", [], "a header and no rows", ["REGISTER_EMPTY"])
    rows = _sus_rows()
    rows[0][5] = "SMÅSTEG"
    sus("sus_deltagare_2018-11_windows-1252.csv", rows, "a SUS extract in Windows-1252 (Å in an insats)",
        ["FILE_UNREADABLE"], encoding="cp1252")
    rows = _sus_rows()
    rows[4][0] = ""
    sus("sus_deltagare_2018-12_personnummer-saknas.csv", rows, "no personnummer on a row not marked anonymous",
        ["PNR_MISSING"])
    rows = _sus_rows()
    rows[0][2], rows[1][9] = "X", "lotto"
    sus("sus_deltagare_2019-01_ogiltiga-koder.csv", rows, "kon 'X' and forsorjning_slut 'lotto'",
        ["VALUE_INVALID"])
    rows = _sus_rows()
    rows[1][5] = format_number(PLANTED, "12-")
    rows[3][5] = f"Kurs {format_number(PLANTED_SAMORDNING, '10')} vt"
    sus("sus_deltagare_2019-03_personnummer-i-insats.csv", rows,
        "a personnummer and a samordningsnummer written in the insats column", ["PERSONAL_NUMBER_IN_TEXT"])
    name = f"sus_deltagare_2019-04_{format_number(PLANTED, '10')}.csv"
    c.csv(name, [SUS_HEADER] + _sus_rows(5), folder=reg)
    c.add(name, "a personnummer in the file name: refused while listing (the name never reaches Airflow)",
          errors=["PERSONAL_NUMBER_IN_NAME"], kind="refused", folder=reg)
    # The strict contract: integers, years and dates exactly as docs/register_extracts.md §4 writes them.
    for month, slug, column, value in [
        ("2019-07", "ar-med-decimaler", "ar_offentlig_forsorjning_fore", "2.5"),
        ("2019-08", "heltal-med-punkt-noll", "ar_offentlig_forsorjning_fore", "3.0"),
        ("2019-09", "fodelsear-med-decimal", "fodelsear", "1985.0"),
        ("2019-10", "datum-utan-nollor", "startdatum", "2018-2-1"),
        ("2019-11", "datum-med-klockslag", "slutdatum", "2018-09-30 12:00:00"),
    ]:
        rows = _sus_rows()
        rows[1][SUS_HEADER.index(column)] = value
        sus(f"sus_deltagare_{month}_{slug}.csv", rows, f"{column} written as '{value}'", ["VALUE_INVALID"])
    rows = _sus_rows()
    rows.append(list(rows[2]))
    c.csv("sus_deltagare_2019-12_dubbletter.csv", [SUS_HEADER] + rows, folder=reg)
    c.add("sus_deltagare_2019-12_dubbletter.csv", "an exact duplicate of a SUS row: the copy is left out",
          warnings=["DUPLICATE_ROWS_REMOVED"], kind="register")
    rows = _sus_rows()
    rows[1][0] = format_number(MAN, "10+")  # reads as 1885; fodelsear says 1985
    sus("sus_deltagare_2020-01_plus-fel-sekel.csv", rows,
        "a 10-digit number with '+' for someone born in 1985 (fodelsear 1985)", ["PNR_BIRTH_YEAR"])
    c.csv("deltagare_2024-06.csv", [SUS_HEADER] + _sus_rows(), folder=reg)
    c.add("deltagare_2024-06.csv", "an extract whose name is neither SUS nor income", errors=["REGISTER_NAME"],
          kind="register")

    table = pa.table({h: pa.array([r[i] for r in _sus_rows()]) for i, h in enumerate(SUS_HEADER)})
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue().to_pybytes()
    c.raw("sus_deltagare_2019-02_avklippt.parquet", data[: len(data) // 2], folder=reg)
    c.add("sus_deltagare_2019-02_avklippt.parquet", "a Parquet extract cut in half", errors=["FILE_UNREADABLE"],
          kind="register")

    def income(name, rows, fault, errors=(), *, encoding="utf-8"):
        c.csv(name, [INCOME_HEADER] + rows, encoding=encoding, folder=reg)
        c.add(name, fault, errors=errors, kind="register")

    base = [[format_number(WOMAN, "12-"), "2018-03", "lon", "21000"],
            [format_number(MAN, "10-"), "2018-04", "sjukpenning", "9000"],
            [format_number(SAMORDNING, "12"), "2018-05", "a_kassa", "14000"]]
    income("inkomster_2018-01_2018-06_manader-utanfor.csv",
           base + [[format_number(WOMAN, "12-"), "2018-09", "lon", "21000"]],
           "an income row for 2018-09 in an extract covering 2018-01..2018-06", ["MONTH_OUTSIDE_COVERAGE"])
    income("inkomster_2018-01_2018-06_fel-kontrollsiffra.csv",
           base + [[format_number(MAN, "12")[:-1] + str((int(MAN[-1]) + 3) % 10), "2018-02", "lon", "100"]],
           "an income row with a wrong Luhn digit", ["PNR_INVALID"])
    income("inkomster_2018-01_2018-06_belopp-med-decimaler.csv",
           base + [[format_number(WOMAN, "12-"), "2018-04", "lon", "100,50"]],
           "an amount with öre (100,50)", ["VALUE_INVALID"])

    # Valid and tricky: a centenarian's 10-digit number with '+', samordningsnummer, anonymous rows.
    rows = _sus_rows()
    rows.append(_sus_row(format_number(CENTENARIAN, "10+"), "M", birth_year="1920"))
    rows.append(_sus_row(format_number(SAMORDNING, "10-"), "M", start="2018-12-01", end="2019-03-31"))
    rows.append(_sus_row("", "K", anonym="1", birth_year="1975"))
    sus("sus_deltagare_2019-06_hundraaring-och-samordningsnummer.csv", rows,
        "a 10-digit personnummer with '+' (a centenarian), samordningsnummer in two forms, an anonymous row")
    path = c.out / reg / "inkomster_2018-01_2018-06_bom-och-blandade-former.csv"
    lines = [";".join(INCOME_HEADER)] + [";".join(r) for r in base + [
        [format_number(CENTENARIAN, "10+"), "2018-06", "pension", "13500"],
        [format_number(SAMORDNING, "10"), "2018-06", "a_kassa", "14000"],
        [format_number(WOMAN, "10"), "2018-06", "lon", "0"]]]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    c.add(path.name, "UTF-8 with a byte-order mark and CRLF; numbers in five written forms incl. '+'",
          kind="register")


# --- hostile and careless input (issue: isolation, complete files, bounded reading, strict forms) -----

FUTURE = datetime(2030, 6, 1, 12, 0).timestamp()  # a modification time in the future


def _zip_edit(data: bytes, change) -> bytes:
    """Rewrite a workbook's zip, part by part (`change(name, bytes) -> bytes | None`), with fixed times."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = change(info.filename, source.read(info.filename))
            if content is not None:
                target.writestr(zipfile.ZipInfo(info.filename, (2026, 10, 1, 0, 0, 0)), content,
                                compress_type=zipfile.ZIP_DEFLATED)
        extra = change("", b"")  # a part to add: (name, bytes) or None
        if extra:
            target.writestr(zipfile.ZipInfo(extra[0], (2026, 10, 1, 0, 0, 0)), extra[1],
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _hostile_surveys(c: Corpus) -> None:  # noqa: PLR0915 - one case after another
    def book(fault_name, fault, errors=(), *, edit=None, change=None, groups=("deltagare", "styrelse"),
             warnings=(), mtime=MTIME):
        code, period = c.slot()
        content = c.content(code, period, groups=groups)
        if change:
            change(content, period)
        name = f"{_stem(code, period)}_{fault_name}.xlsx"
        c.workbook(name, content, edit)
        c.add(name, fault, errors=errors, warnings=warnings, federation_code=code, period=period, mtime=mtime)

    def cell(group, header, row, value):
        def edit(wb, sheets):
            sheet = c.sheet_name(group)
            col = c.column(group, period_of[0], header)
            sheets[sheet].write_string(row, col, value) if isinstance(value, str) else \
                sheets[sheet].write(row, col, value)
        return edit

    period_of = [None]

    def answer_case(fault_name, fault, value, errors):
        code, period = c.slot()
        period_of[0] = period
        content = c.content(code, period)
        name = f"{_stem(code, period)}_{fault_name}.xlsx"
        c.workbook(name, content, cell("deltagare", "D01", 2, value))
        c.add(name, fault, errors=errors, federation_code=code, period=period)

    # Numbers only in the listed forms.
    answer_case("svar-4e0", "an answer written 4e0 (an exponent)", "4e0", ["ANSWER_INVALID"])
    answer_case("svar-0_4", "an answer written 0_4 (Python's digit separator)", "0_4", ["ANSWER_INVALID"])
    answer_case("svar-arabisk-siffra", "an answer written ٤ (Arabic-Indic four)", "\u0664", ["ANSWER_INVALID"])
    answer_case("svar-helbredd-siffra", "an answer written ４ (a full-width four)", "\uff14", ["ANSWER_INVALID"])
    answer_case("svar-inf", "an answer written inf", "inf", ["ANSWER_INVALID"])
    answer_case("svar-nan", "an answer written NaN", "NaN", ["ANSWER_INVALID"])
    answer_case("svar-hex", "an answer written 0x4", "0x4", ["ANSWER_INVALID"])
    # Dates only in the listed forms (the value depends on the slot's period).
    def date_case(fault_name, fault, make):
        code, period = c.slot()
        period_of[0] = period
        name = f"{_stem(code, period)}_{fault_name}.xlsx"
        c.workbook(name, c.content(code, period), cell("deltagare", ANSWERED_ON, 2, make(period_bounds(period)[0])))
        c.add(name, fault, errors=["DATE_INVALID"], federation_code=code, period=period)

    date_case("iso-veckodatum", "a Datum written as an ISO week date (YYYY-W10-3)",
              lambda start: f"{start.year + 1}-W10-3")
    date_case("ordinaldatum", "a Datum written as an ordinal date (YYYY-073)", lambda start: f"{start.year + 1}-073")
    date_case("datum-arabiska-siffror", "a Datum written in Arabic-Indic digits",
              lambda start: (start + timedelta(days=100)).isoformat().translate(
                  {ord(d): chr(0x0660 + int(d)) for d in "0123456789"}))
    date_case("datum-med-punkt-och-tid", "a Datum written 'DD.MM.YYYY 10:30'",
              lambda start: (start + timedelta(days=100)).strftime("%d.%m.%Y 10:30"))

    # Dates in a workbook saved with the 1904 date system: unformatted serials count from 1904-01-01.
    code, period = c.slot()
    content = c.content(code, period, groups=("deltagare",))  # every date cell is rewritten below
    name = f"{_stem(code, period)}_datumsystem-1904.xlsx"

    def serials_1904(wb, sheets, content=content, period=period):
        wb.date_1904 = True  # xlsxwriter then writes <workbookPr date1904="1"/>
        ws = sheets["Deltagare"]
        col = c.column("deltagare", period, ANSWERED_ON)
        for r, respondent in enumerate(content.respondents["deltagare"], start=1):
            ws.write_number(r, col, (respondent.answered_on - date(1904, 1, 1)).days)
    c.workbook(name, content, serials_1904)
    c.add(name, "unformatted date serials in a workbook using Excel's 1904 date system (Mac Excel)",
          federation_code=code, period=period)

    # Counts.
    def count_case(fault_name, fault, value, errors):
        code, period = c.slot()
        name = f"{_stem(code, period)}_{fault_name}.xlsx"

        def edit(wb, sheets):
            sheets[COLLECTION_SHEET].write(1, 1, value)  # Deltagare's Antal tillfrågade
        c.workbook(name, c.content(code, period), edit)
        c.add(name, fault, errors=errors, federation_code=code, period=period)

    count_case("antal-3-miljarder", "a count of 3,000,000,000 (beyond a 32-bit integer)", 3_000_000_000,
               ["COUNT_TOO_LARGE"])
    count_case("antal-10000001", "a count of 10,000,001, just above the limit", 10_000_001, ["COUNT_TOO_LARGE"])
    count_case("antal-1e3", "a count written 1e3", "1e3", ["COUNT_INVALID"])
    count_case("antal-arabiska-siffror", "a count written ١٢ (Arabic-Indic digits)", "\u0661\u0662",
               ["COUNT_INVALID"])
    for entry in list(c.entries.values())[-4:]:  # Deltagare's rows then have no valid count beside them
        entry.warnings = ["COLLECTION_MISSING"]

    # One count per questionnaire: Insamling listing one twice (xlsx and CSV).
    code, period = c.slot()
    name = f"{_stem(code, period)}_insamling-dubbel-rad.xlsx"

    def twice(wb, sheets):
        sheets[COLLECTION_SHEET].write_row(6, 0, ["Deltagare", 20, 6])
    c.workbook(name, c.content(code, period), twice)
    c.add(name, "Insamling lists Deltagare twice", errors=["GROUP_DUPLICATE"], federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_Insamling_dubbel-rad.csv"
    c.csv(name, [["Enkät", "Antal tillfrågade", "Antal besvarade"], ["Styrelse", 10, 5], ["Deltagare", 12, 6],
                 ["styrelse", 11, 6]])
    c.add(name, "an Insamling CSV listing Styrelse twice (the second in lower case)", errors=["GROUP_DUPLICATE"],
          federation_code=code, period=period)

    # Sheets that differ only in case or spaces are never merged.
    code, period = c.slot()
    content = c.content(code, period)
    name = f"{_stem(code, period)}_blad-styrelse-tva-ganger.xlsx"

    def second_styrelse(wb, sheets, content=content):
        ws = wb.add_worksheet("styrelse ")
        for r, row in enumerate(c.sheet_rows(content, "styrelse")[:4]):
            ws.write_row(r, 0, [v.isoformat() if isinstance(v, date) else v for v in row])
    c.workbook(name, content, second_styrelse)
    c.add(name, "sheets 'Styrelse' and 'styrelse ' in one workbook", errors=["SHEET_DUPLICATE"],
          federation_code=code, period=period)
    code, period = c.slot()
    content = c.content(code, period)
    name = f"{_stem(code, period)}_blad-deltagare-versaler.xlsx"

    def upper_deltagare(wb, sheets, content=content):
        ws = wb.add_worksheet("DELTAGARE ")  # (xlsxwriter itself refuses 'DELTAGARE' beside 'Deltagare')
        for r, row in enumerate(c.sheet_rows(content, "deltagare")[:2]):
            ws.write_row(r, 0, [v.isoformat() if isinstance(v, date) else v for v in row])
    c.workbook(name, content, upper_deltagare)
    c.add(name, "sheets 'Deltagare' and 'DELTAGARE '", errors=["SHEET_DUPLICATE"], federation_code=code,
          period=period)

    # A str formula saved without a value.
    code, period = c.slot()
    content = c.content(code, period)
    name = f"{_stem(code, period)}_textformel-utan-varde.xlsx"
    c.raw(name, _zip_edit(c.workbook_bytes(content), lambda part, data: (
        re.sub(rb'<c r="E2" t="s"><v>\d+</v></c>', b'<c r="E2" t="str"><f>CONCAT("STEG","1")</f></c>', data, count=1)
        if part == "xl/worksheets/sheet3.xml" else (None if part == "" else data))))
    c.add(name, "an Insats cell holding a text formula (t=\"str\") with no saved value", errors=["FORMULA_NO_VALUE"],
          federation_code=code, period=period)

    # A macro workbook renamed .xlsx.
    code, period = c.slot()
    name = f"{_stem(code, period)}_xlsm-med-fel-filandelse.xlsx"

    def macro(part, data):
        if part == "":
            return ("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not a real VBA project")
        if part == "[Content_Types].xml":
            return data.replace(b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml")
        return data
    c.raw(name, _zip_edit(c.workbook_bytes(c.content(code, period)), macro))
    c.add(name, "a macro-enabled workbook (.xlsm) renamed to .xlsx", errors=["FILE_MACRO"], federation_code=code,
          period=period)

    # Bounded reading: a zip bomb, a sheet declaring too many columns.
    code, period = c.slot()
    name = f"{_stem(code, period)}_zip-bomb.xlsx"

    def bomb(part, data):
        if part == "xl/worksheets/sheet3.xml":
            head, tail = data.split(b"<sheetData>", 1)
            return head + b"<sheetData>" + b" " * (48 * 1024 * 1024) + tail  # 48 MiB of spaces, ~50 KB packed
        return None if part == "" else data
    c.raw(name, _zip_edit(c.workbook_bytes(c.content(code, period)), bomb))
    c.add(name, "a zip bomb: one sheet's XML padded with 48 MiB of spaces that pack into kilobytes",
          errors=["FILE_TOO_LARGE"], federation_code=code, period=period)
    code, period = c.slot()
    name = f"{_stem(code, period)}_kolumn-1500.xlsx"

    def far_column(wb, sheets):
        sheets["Deltagare"].write_string(1, 1500, "x")
    c.workbook(name, c.content(code, period), far_column)
    c.add(name, "a stray cell in column 1501 (BEF): the sheet declares more than 1,000 columns",
          errors=["FILE_TOO_LARGE"], federation_code=code, period=period)

    # CSV bytes.
    code, period = c.slot()
    rows = c.sheet_rows(c.content(code, period, groups=("styrelse",), n=200), "styrelse")
    name = f"{_stem(code, period)}_Styrelse_nul-efter-4-kB.csv"
    path = c.csv(name, rows)
    data = path.read_bytes()
    cut = data.index(b"\r\n", 4200) + 2
    path.write_bytes(data[:cut] + b"\x00" + data[cut:])
    c.add(name, "a NUL byte after the first 4 KB of a CSV", errors=["BINARY_CONTENT"], federation_code=code,
          period=period)
    code, period = c.slot()
    rows = c.sheet_rows(c.content(code, period, groups=("styrelse",)), "styrelse")
    name = f"{_stem(code, period)}_Styrelse_ensamt-cr.csv"
    path = c.csv(name, rows)
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\n".join(lines[:3]) + b"\r" + b"\n".join(lines[3:]))
    c.add(name, "a CSV with LF line endings and one lone CR between two rows", errors=["CSV_LINE_ENDINGS"],
          federation_code=code, period=period)
    code, period = c.slot()
    rows = c.sheet_rows(c.content(code, period, groups=("styrelse",)), "styrelse")
    name = f"{_stem(code, period)}_Styrelse_bara-cr.csv"
    path = c.csv(name, rows)
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r"))
    c.add(name, "a CSV with CR alone as line ending throughout (old Mac Excel): valid", federation_code=code,
          period=period)

    # Names.
    code, period = c.slot()
    name = f"{_stem(code, period)}_{'x' * (240 - len(_stem(code, period)) - 6)}.xlsx"
    c.workbook(name, c.content(code, period))
    c.add(name, "a 240-character file name", errors=["FILE_NAME_UNSAFE"])
    code, period = c.slot()
    name = f"{_stem(code, period)}_radbrytning.xlsx\n"
    c.workbook(name, c.content(code, period))
    c.add(name, "a file name ending in a newline", errors=["FILE_NAME_UNSAFE"])
    code, period = c.slot()
    name = f"{_stem(code, period)}_tabb\tinne.xlsx"
    c.workbook(name, c.content(code, period))
    c.add(name, "a tab inside the file name", errors=["FILE_NAME_UNSAFE"])
    code, period = c.slot()
    name = f"{_stem(code, period)}_noll\u200bbredd.xlsx"
    c.workbook(name, c.content(code, period))
    c.add(name, "a zero-width space inside the file name", errors=["FILE_NAME_UNSAFE"])
    code, period = c.slot()
    name = f"{code}_2099-00.xlsx"
    c.workbook(name, c.content(code, "2025/26"))
    c.add(name, "a survey for period 2099/00 (no collection in the calendar)", errors=["PERIOD_UNKNOWN"])
    code, period = c.slot()
    name = f"{code}_2010-11_fore-kalendern.xlsx"
    c.workbook(name, c.content(code, "2025/26"))
    c.add(name, "a survey for period 2010/11, before the collection calendar starts", errors=["PERIOD_UNKNOWN"])
    code, period = c.slot()
    name = unicodedata.normalize("NFD", f"{_stem(code, period)}_rättad_från_Mac.xlsx")
    c.workbook(name, c.content(code, period))
    c.add(name, "a file name in NFD (decomposed ä, å), as macOS writes it: valid", federation_code=code,
          period=period)

    # NFD headers and labels (a Mac): valid after NFC normalisation.
    code, period = c.slot()
    content = c.content(code, period)
    name = f"{_stem(code, period)}_nfd-rubriker.xlsx"

    def nfd(wb, sheets, content=content, period=period):
        for group in ("deltagare", "styrelse"):
            ws = sheets[c.sheet_name(group)]
            rows = c.sheet_rows(content, group)
            for col, head in enumerate(rows[0]):
                ws.write_string(0, col, unicodedata.normalize("NFD", head))
            col = c.column(group, period, "D01" if group == "deltagare" else "S01")
            ws.write_string(1, col, unicodedata.normalize("NFD", "Sällan"))
        sheets[COLLECTION_SHEET].write_string(0, 0, unicodedata.normalize("NFD", "Enkät"))
    c.workbook(name, content, nfd)
    c.add(name, "headers, a label and Enkät typed on a Mac (NFD: Lo\u0308pnummer, Ko\u0308n, Sa\u0308llan): valid",
          federation_code=code, period=period)

    # Text that would break a renderer (charts, HTML, spreadsheets) in a survey's Insats: not allowed there.
    code, period = c.slot()
    content = c.content(code, period)
    content.respondents["deltagare"][0].insats = "Kurs $\\x$"
    name = f"{_stem(code, period)}_insats-mathtext.xlsx"
    c.workbook(name, content)
    c.add(name, "a survey Insats 'Kurs $\\x$' (mathtext): outside the Insats characters", errors=["CODE_INVALID"],
          federation_code=code, period=period)
    code, period = c.slot()
    content = c.content(code, period)
    content.respondents["deltagare"][0].insats = "=HYPERLINK(\"http://x\")"
    name = f"{_stem(code, period)}_insats-formel.xlsx"
    c.workbook(name, content)
    c.add(name, "a survey Insats starting with '=' (formula injection)", errors=["CODE_INVALID"],
          federation_code=code, period=period)

    # Arrival: a modification time in the future is not trusted (the file is valid).
    code, period = c.slot()
    name = f"{_stem(code, period)}_framtida-andringstid.xlsx"
    c.workbook(name, c.content(code, period))
    c.add(name, "a valid file whose modification time is 2030-06-01 (arrival is when ingest first saw it)",
          federation_code=code, period=period, mtime=FUTURE)

    # Dates and times in allowed forms.
    code, period = c.slot()
    period_of[0] = period
    name = f"{_stem(code, period)}_datum-med-klockslag.xlsx"
    c.workbook(name, c.content(code, period), cell("deltagare", ANSWERED_ON, 2,
                                                  (period_bounds(period)[0] + timedelta(days=40)).isoformat()
                                                  + "T10:30"))
    c.add(name, "a Datum written 'YYYY-MM-DDT10:30': valid, the time is ignored", federation_code=code,
          period=period)

    # Register-style period mismatch inside Metadata: 2099/00 against the name's period.
    code, period = c.slot()
    name = f"{_stem(code, period)}_metadata-2099-00.xlsx"

    def meta_2099(wb, sheets):
        sheets[METADATA_SHEET].write_string(2, 1, "2099/00")
    c.workbook(name, c.content(code, period), meta_2099)
    c.add(name, "Metadata says 2099/00, the name another period", errors=["PERIOD_MISMATCH"],
          federation_code=code, period=period)


def _hostile_registers(c: Corpus) -> None:
    reg = "register"

    def sus(name, rows, fault, errors=()):
        c.csv(name, [SUS_HEADER] + rows, folder=reg)
        c.add(name, fault, errors=errors, kind="register")

    def income(name, rows, fault, errors=()):
        c.csv(name, [INCOME_HEADER] + rows, folder=reg)
        c.add(name, fault, errors=errors, kind="register")

    rows = _sus_rows()
    rows[2][5] = "alla"
    sus("sus_deltagare_2019-07_insats-alla.csv", rows, "a SUS insats 'alla', the reports' total label",
        ["VALUE_RESERVED"])
    rows = _sus_rows()
    rows[4][5] = "ALLA "
    sus("sus_deltagare_2019-08_insats-ALLA.csv", rows, "a SUS insats 'ALLA ' (case and a space)", ["VALUE_RESERVED"])
    sus("sus_deltagare_2099-01.csv", _sus_rows(4), "a SUS extract for 2099-01 (it would stay current for good)",
        ["REGISTER_PERIOD"])
    sus("sus_deltagare_2024-00.csv", _sus_rows(3), "a SUS extract for month 00", ["REGISTER_PERIOD"])
    sus("sus_deltagare_2024-13_rattad.csv", _sus_rows(2), "a SUS extract for month 13, with a suffix",
        ["REGISTER_PERIOD"])
    sus("sus_deltagare_1999-12.csv", _sus_rows(1), "a SUS extract for 1999-12, before any register",
        ["REGISTER_PERIOD"])
    base = [[format_number(WOMAN, "12-"), "2024-02", "lon", "21000"]]
    income("inkomster_2024-01_2024-13.csv", base, "an income extract covering up to month 13", ["REGISTER_PERIOD"])
    income("inkomster_2030-01_2030-03.csv", [[format_number(WOMAN, "12-"), "2030-02", "lon", "100"]],
           "a one-row income extract for 2030-01..2030-03, in the future of the run", ["REGISTER_PERIOD"])
    income("inkomster_2024-07_2024-06.csv", [[format_number(MAN, "12-"), "2024-06", "lon", "100"]],
           "an income extract whose first month is after its last", ["REGISTER_PERIOD"])
    sus("sus_deltagare_2019-09_" + "x" * 200 + ".csv", _sus_rows(2)[1:], "a 226-character register file name",
        ["FILE_NAME_UNSAFE"])
    sus("sus_deltagare_2019-10.csv\n", _sus_rows(3)[1:], "a register file name ending in a newline",
        ["FILE_NAME_UNSAFE"])
    # Valid: insats text that renderers must escape (the SUS insats is published as written).
    rows = _sus_rows()
    rows[0][5] = "Kurs $\\x$"
    rows[1][5] = "<b>Steg&2</b>"
    rows[2][5] = "=HYPERLINK(\"x\")"
    sus("sus_deltagare_2019-11_insats-att-escapa.csv", rows,
        "SUS insats 'Kurs $\\x$', '<b>Steg&2</b>' and '=HYPERLINK(\"x\")': valid, escaped by each renderer")
    rows = _sus_rows()
    c.csv("sus_deltagare_2019-12_framtida-andringstid.csv", [SUS_HEADER] + rows[1:], folder=reg)  # bytes of its own
    c.add("sus_deltagare_2019-12_framtida-andringstid.csv", "a valid SUS extract whose modification time is 2030",
          kind="register", mtime=FUTURE)


def _not_regular(c: Corpus) -> None:
    """Inbox entries that are not regular files: refused (FILE_NOT_REGULAR) and left alone."""
    target = c.out / ".symlink-target"
    target.mkdir(exist_ok=True)
    code, period = c.slot()
    c.workbook(f".symlink-target/{_stem(code, period)}.xlsx", c.content(code, period))
    os.utime(target / f"{_stem(code, period)}.xlsx", (MTIME, MTIME))
    name = f"{_stem(code, period)}_symlank.xlsx"
    (c.out / name).symlink_to(f".symlink-target/{_stem(code, period)}.xlsx")
    c.add(name, "a symbolic link to a valid workbook elsewhere", errors=["FILE_NOT_REGULAR"], kind="refused")
    name = f"{_stem(*c.slot())}_fifo.xlsx"
    os.mkfifo(c.out / name)
    c.add(name, "a named pipe (FIFO): opening it would block the reader", errors=["FILE_NOT_REGULAR"],
          kind="refused")
    name = "sus_deltagare_2019-05_symlank.csv"
    (c.out / "register" / name).symlink_to("/etc/hostname")
    c.add(name, "a register 'extract' that is a symbolic link to a file outside the inbox",
          errors=["FILE_NOT_REGULAR"], kind="refused", folder="register")


# --- the input contract exactly as written (issue #30) ------------------------------------------------

def _contract_surveys(c: Corpus) -> None:
    """After every other case, so that the earlier files keep their federation × period (and names)."""
    code, period = c.slot()
    content = c.content(code, period)
    content.respondents["deltagare"][1].answers["D01"] = 7
    name = f"{_stem(code, period)}_{'x' * (240 - len(_stem(code, period)) - 6)}.xlsx"
    c.workbook(name, content)
    c.add(name, "a 240-character file name over a file with an answer of 7: both problems at once",
          errors=["FILE_NAME_UNSAFE", "ANSWER_OUT_OF_RANGE"], federation_code=code, period=period)

    code, period = c.slot()
    name = f"{_stem(code, period)}_dimension-XFD1048576.xlsx"
    c.raw(name, _zip_edit(c.workbook_bytes(c.content(code, period)), lambda part, data: (
        None if part == "" else re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', data)
        if part.startswith("xl/worksheets/") else data)))
    c.add(name, "every sheet declares <dimension ref=\"A1:XFD1048576\"> (as some exporters write): valid, read "
                "by what it holds", federation_code=code, period=period)

    code, period = c.slot()
    name = f"{_stem(code, period)}_varde-pa-rad-1048576.xlsx"
    far = b'<row r="1048576"><c r="B1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    c.raw(name, _zip_edit(c.workbook_bytes(c.content(code, period)), lambda part, data: (
        None if part == "" else data.replace(b"</sheetData>", far) if part == "xl/worksheets/sheet3.xml" else data)))
    c.add(name, "a stray value in row 1,048,576 of Deltagare: a grid of 13.6 million cells to hold",
          errors=["FILE_TOO_LARGE"], federation_code=code, period=period)

    code, period = c.slot()
    content = c.content(code, period)
    # Counts for a questionnaire with no rows in this workbook. (Six answered: three, the only Personal
    # counts of the period, would show in collection_summary and stop the gate, see tests/integration/
    # test_counts_only.py.)
    content.collection["personal"] = (12, 6)
    name = f"{_stem(code, period)}_antal-utan-rader.xlsx"
    c.workbook(name, content)
    c.add(name, "Insamling counts for Personal (12 asked, 6 answered) and no Personal rows: valid, no warning",
          federation_code=code, period=period)

    # A byte copy of a valid file: listed and reported "already ingested" (its name sorts after the original's).
    original = next(n for n, e in c.entries.items() if "etiketter-blandade-versaler" in n)
    name = original.replace(".xlsx", "_kopia.xlsx")
    c.raw(name, (c.out / original).read_bytes())
    entry = c.entries[original]
    c.add(name, "a byte copy of an accepted file: already ingested, nothing to do", kind="survey",
          federation_code=entry.federation_code, period=entry.period)
    c.entries[name].expected = "known"


def _contract_registers(c: Corpus) -> None:
    reg = "register"

    def write(name, header, rows, fault, errors=(), warnings=()):
        c.csv(name, [header] + rows, folder=reg)
        c.add(name, fault, errors=errors, warnings=warnings, kind="register")

    rows = _sus_rows()
    rows[1][0], rows[1][3] = format_number(MAN, "12-").replace("-", "+"), "1985"
    rows[4][0] = rows[4][0].replace("-", "+")  # born 1979; fodelsear 1988 is not compared, as with '-'
    write("sus_deltagare_2020-02_tolv-siffror-med-plus.csv", SUS_HEADER, rows,
          "12-digit numbers written with '+' for people under 100: the written century wins, and fodelsear is "
          "not compared with them (as with '-')")
    rows = _sus_rows()
    rows.append(list(rows[0]))  # WOMAN again, written with 10 digits
    rows[-1][0] = format_number(WOMAN, "10")
    write("sus_deltagare_2020-03_samma-person-tva-former.csv", SUS_HEADER, rows,
          "the same SUS row twice, the person written with 12 and with 10 digits: the copy is left out",
          warnings=["DUPLICATE_ROWS_REMOVED"])
    base = [[format_number(WOMAN, "12-"), "2018-03", "lon", "21000"],
            [format_number(MAN, "10-"), "2018-04", "sjukpenning", "9000"]]
    write("inkomster_2018-01_2018-06_belopp-20-siffror.csv", INCOME_HEADER,
          base + [[format_number(MAN, "12-"), "2018-05", "lon", "9" * 20]],
          "an amount of 20 digits: a value named by row and column, not an unreadable file", ["VALUE_INVALID"])
    write("inkomster_2018-01_2018-06_manad-13.csv", INCOME_HEADER,
          base + [[format_number(WOMAN, "12-"), "2014-13", "lon", "21000"]],
          "a month 2014-13 (and before the coverage): an invalid month only", ["VALUE_INVALID"])


def write_bad_corpus(out: Path, catalogue: Catalogue, seed: int = 20251101) -> dict:
    """Write the corpus and its manifest into `out`; return a summary."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "register").mkdir(exist_ok=True)
    corpus = Corpus(out, catalogue, seed)
    _survey_faults(corpus)
    _survey_tricky(corpus)
    _survey_personal_numbers(corpus)
    _register(corpus)
    _hostile_surveys(corpus)
    _hostile_registers(corpus)
    _not_regular(corpus)
    _contract_surveys(corpus)
    _contract_registers(corpus)
    # Identity is the hash of the bytes: two cases with the same bytes would be one submission
    # (but for the copy that is one on purpose).
    digests = [hashlib.sha256((out / e.path).read_bytes()).hexdigest() for e in corpus.entries.values()
               if e.kind != "refused" and e.expected != "known"]
    assert len(digests) == len(set(digests)), "two corpus files have the same bytes"
    manifest = {"seed": seed, "password": PASSWORD,
                "files": {name: asdict(e) for name, e in sorted(corpus.entries.items())}}
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    entries = corpus.entries.values()
    return {"files": len(corpus.entries), "manifest": str(out / MANIFEST),
            "rejected": sum(e.expected == "rejected" for e in entries),
            "accepted": sum(e.expected == "accepted" for e in entries),
            "known": sum(e.expected == "known" for e in entries),
            "refused": sum(e.expected == "refused" for e in entries),
            "survey": sum(e.kind == "survey" for e in entries),
            "register": sum(e.kind == "register" for e in entries)}


def read_manifest(folder: Path) -> dict[str, dict]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]


def make_libreoffice_fixtures(catalogue: Catalogue, seed: int = 20251101) -> list[Path]:
    """Write fixtures/libreoffice.{xlsx,xls,ods}: a valid submission saved by LibreOffice Calc
    (and libreoffice-2.ods, another one).

    Run once by hand where LibreOffice is installed (`python -m synthetic.bad`);
    the files are committed, so neither generating the corpus nor the tests need it.
    """
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise RuntimeError("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    corpus = Corpus(Path(tempfile.mkdtemp()), catalogue, seed)
    code, period = LIBREOFFICE_SLOT
    source = corpus.workbook(f"{_stem(code, period)}.xlsx", corpus.content(code, period))
    other = corpus.workbook("SF01_2025-26.xlsx", corpus.content("SF01", "2025/26"))
    FIXTURES.mkdir(exist_ok=True)
    written = []
    for book, fmt, filt, target in (
            (source, "xlsx", "Calc MS Excel 2007 XML", "libreoffice.xlsx"),
            (source, "xls", "MS Excel 97", "libreoffice.xls"),
            (source, "ods", "calc8", "libreoffice.ods"),
            (other, "ods", "calc8", "libreoffice-2.ods")):  # other bytes: a rejected file needs its own id
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless",
                            "--convert-to", f"{fmt}:{filt}", "--outdir", tmp, str(book)],
                           check=True, capture_output=True)
            shutil.copyfile(Path(tmp) / f"{book.stem}.{fmt}", FIXTURES / target)
            written.append(FIXTURES / target)
    shutil.rmtree(corpus.out)
    return written


if __name__ == "__main__":
    from core.catalogue import load_catalogue
    from core.settings import get_settings

    for path in make_libreoffice_fixtures(load_catalogue(get_settings().catalogue_dir)):
        print(path)
