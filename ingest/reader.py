"""Reading a submitted file into sheets of raw cell values.

A sheet is a list of rows as they stand in the file, starting at row 1, so a
row's index + 1 is the row number the submitter sees in Excel. No values are
interpreted here; the contract does that, cell by cell, with sheet/row/column.

What the cell values alone do not show is reported beside them, per sheet:
merged cells, hidden rows, formulas saved without a value and error values
(`SheetFindings`), read from the workbook's XML because calamine only gives
values. A sheet longer than the row limit is not kept whole: its rows are
counted while streaming and only the first ones are kept (`row_counts`).

Bounded resources: nothing is parsed before its size is known. A file larger
than `MAX_FILE_BYTES` on disk is refused; a workbook's parts are decompressed
once, as a stream, counting (never trusting the sizes the zip declares), and a
package whose parts would exceed `MAX_UNCOMPRESSED_BYTES`, or whose compression
ratio is that of a bomb, or whose sheets' cells reach further than calamine can
hold (`SheetExtent`: what the cells really span, not what <dimension> declares),
is refused with `FILE_TOO_LARGE` before calamine reads it. With these limits one
file is read in at most about 512 MiB (docs/submission_format.md §3.1.1). Every
other exception while reading becomes `UnreadableFile`, so a file can never
crash the batch.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.parsers import expat

import python_calamine

log = logging.getLogger(__name__)

Cell = object  # str | int | float | bool | date | datetime | None

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: .xls, or an encrypted .xlsx
ZIP_MAGIC = b"PK\x03\x04"
MiB = 1024 * 1024
MAX_FILE_BYTES = 64 * MiB  # on disk, CSV or xlsx (a full 20,000-row workbook is about 3 MiB)
MAX_UNCOMPRESSED_BYTES = 100 * MiB  # all parts of a workbook, decompressed (measured: peak RSS 0.5 GiB)
KEEP_BYTES = 32 * MiB  # sheet XML kept from the size check for the look at hidden rows and formulas
MAX_RATIO = 200  # uncompressed / compressed for a part larger than 1 MiB: beyond it, a bomb
MAX_COLUMNS = 1_000  # a questionnaire sheet has about 40
# Rows × columns from A1 to a sheet's farthest cell with a value: calamine allocates every cell of that
# grid (about 32 bytes each, measured), so a stray value in row 1,048,576 would cost 430 MiB at 13 columns.
MAX_CELLS = 4_000_000


class UnreadableFile(Exception):
    """The bytes are not a workbook/CSV we can read; the message is Swedish.

    `code` is the problem code to report: FILE_UNREADABLE, or FILE_ENCRYPTED
    for a password-protected workbook (which needs a different action).
    """

    def __init__(self, expected: str, detail: str, code: str = "FILE_UNREADABLE", **details):
        super().__init__(detail)
        self.expected = expected
        self.detail = detail
        self.code = code
        self.details = {"expected": expected, "detail": detail, **details}


def too_large(expected: str, detail: str) -> UnreadableFile:
    return UnreadableFile(expected, detail, code="FILE_TOO_LARGE",
                          limit=f"{MAX_FILE_BYTES // MiB} MiB, {MAX_UNCOMPRESSED_BYTES // MiB} MiB uppackat")


@dataclass(frozen=True)
class SheetFindings:
    """What a sheet holds besides plain values (xlsx only). Cells as Excel references."""

    merged: tuple[str, ...] = ()  # "A1:B1"
    hidden_rows: tuple[int, ...] = ()  # Excel row numbers
    formulas_without_value: tuple[str, ...] = ()  # "D3": a formula saved with no result
    error_values: tuple[tuple[str, str], ...] = ()  # ("D3", "#DIV/0!")

    def __bool__(self) -> bool:
        return bool(self.merged or self.hidden_rows or self.formulas_without_value or self.error_values)


@dataclass(frozen=True)
class Sheets:
    """The readable content of one submitted file."""

    sheets: dict[str, list[list[Cell]]]
    encoding: str | None = None  # CSV only
    delimiter: str | None = None  # CSV only
    # Sheets cut short because they exceed the row limit: their real number of non-blank data rows.
    row_counts: dict[str, int] = field(default_factory=dict)
    findings: dict[str, SheetFindings] = field(default_factory=dict)  # xlsx only
    date1904: bool = False  # xlsx only: serial numbers count days from 1904-01-01


def _is_blank(row) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in row)


def _keep_rows(rows, max_rows: int | None) -> tuple[list[list[Cell]], int | None]:
    """All rows, or (past the limit) the header and the first max_rows + 1 data rows plus a count.

    Streaming the count keeps memory flat for a runaway sheet (200,000 rows) that
    will be rejected anyway.
    """
    kept: list[list[Cell]] = []
    data_rows = 0
    truncated = False
    for i, row in enumerate(rows):
        if i == 0:
            kept.append(list(row))
            continue
        if _is_blank(row):
            if not truncated:
                kept.append(list(row))
            continue
        data_rows += 1
        if max_rows is not None and data_rows > max_rows + 1:
            truncated = True
        if not truncated:
            kept.append(list(row))
    return kept, data_rows if truncated else None


def _unreadable_xlsx_detail(path: Path) -> UnreadableFile:
    """Say as precisely as the bytes allow why a .xlsx cannot be opened."""
    expected = "Excel-arbetsbok"
    data = path.read_bytes()
    if not data:
        return UnreadableFile(expected, "filen är tom (0 byte)")
    if data.startswith(OLE_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data:
            return UnreadableFile(expected, "arbetsboken är lösenordsskyddad", code="FILE_ENCRYPTED")
        return UnreadableFile(expected, "filen är en äldre Excel-fil (.xls) eller en annan Office-fil, "
                                        "inte en .xlsx-arbetsbok")
    if data.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = z.namelist()
                mimetype = z.read("mimetype") if "mimetype" in names else b""
        except zipfile.BadZipFile:
            return UnreadableFile(expected, "filen är ofullständig: den tar slut mitt i, till exempel efter "
                                            "en avbruten överföring eller sparning")
        if b"opendocument.spreadsheet" in mimetype:
            return UnreadableFile(expected, "filen är ett OpenDocument-kalkylblad (.ods), inte en .xlsx-arbetsbok")
    return UnreadableFile(expected, "filen är skadad eller inte en .xlsx-fil")


_DATE1904 = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904=\"(?:1|true)\"")


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ch - 64
    return number


# Any cell's start tag, and one as every writer we know writes it (Excel, LibreOffice, openpyxl,
# xlsxwriter): r="A1" first, in double quotes. Group 3 ends in '/' for a cell with no value, which
# calamine skips.
_ANY_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")
_USUAL_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"([^<>]*)>')
_REF_PARTS = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")  # r="AB12" as expat gives it
LONGEST_TAG = 64 * 1024  # a cell or row tag is a few dozen bytes


class SheetExtent:
    """How far a sheet's cells with a value reach: the grid calamine allocates for it.

    Counted from the sheet's XML as it streams (`feed`), never from the <dimension> it declares
    (some exporters declare A1:XFD1048576 for three rows). A cell is placed by its own r=, as
    calamine places it. The usual XML is read with a regular expression per chunk; where any cell
    tag has another form (no r=, single quotes, a '>' in an attribute), `plain` turns False and
    the part must be parsed as XML instead (`parsed`), as calamine reads it: positional cells
    count on from the one before, rows from the row before. (A '>' inside an attribute after r=
    can only make a cell without a value count as one with a value: never too little.)
    """

    def __init__(self):
        self.rows = self.columns = 0
        self.plain = True
        self._tail = b""

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    def feed(self, chunk: bytes, *, last: bool = False) -> None:
        if not self.plain:
            return
        data = self._tail + chunk
        cut = data.rfind(b"<")
        if not last and cut >= 0 and b">" not in data[cut:]:  # a tag cut by the chunk's end: read it whole next time
            data, self._tail = data[:cut], data[cut:]
        else:
            self._tail = b""
        cells = _USUAL_CELL.findall(data)
        if len(cells) != len(_ANY_CELL.findall(data)) or len(self._tail) > LONGEST_TAG:
            self.plain = False
            return
        with_value = [(letters, digits) for letters, digits, rest in cells if not rest.endswith(b"/")]
        if with_value:
            self.columns = max(self.columns, *(_column_number(c) for c in {c for c, _ in with_value}))
            self.rows = max(self.rows, *(int(r) for r in {r for _, r in with_value}))

    @classmethod
    def parsed(cls, stream) -> SheetExtent:
        """The extent of any well-formed sheet XML, parsed as XML from a binary stream."""
        extent = cls()
        row = column = cell_row = 0
        has_cell = False

        def start(tag: str, attrs: dict) -> None:
            nonlocal row, column, cell_row, has_cell
            tag = tag.rpartition(":")[2]
            if tag == "row":
                number = attrs.get("r", "")
                row, column = (int(number) if number.isdigit() else row + 1), 0
            elif tag == "c":
                ref = _REF_PARTS.fullmatch(attrs.get("r", ""))
                column, cell_row = (_column_number(ref[1].encode()), int(ref[2])) if ref else (column + 1, row)
                has_cell = True
            elif tag in ("v", "is") and has_cell:  # a value: calamine skips a cell without one
                extent.rows, extent.columns = max(extent.rows, cell_row), max(extent.columns, column)

        def end(tag: str) -> None:
            nonlocal has_cell
            if tag.rpartition(":")[2] == "c":
                has_cell = False

        parser = expat.ParserCreate()
        parser.StartElementHandler, parser.EndElementHandler = start, end
        while chunk := stream.read(MiB):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
        return extent


def check_package(path: Path, keep: dict[str, bytes] | None = None) -> bool:
    """Refuse a workbook too large to read in bounded memory; return whether it uses the 1904 date system.

    Every part is decompressed once as a stream and counted (a zip's declared sizes can lie).
    With `keep`, the parts _inspect_xml reads (the sheets and the workbook's index of them) are
    kept there as they pass, up to KEEP_BYTES in all, so that it need not decompress them again.
    Raises UnreadableFile (FILE_TOO_LARGE, FILE_MACRO or FILE_UNREADABLE).
    """
    expected = "Excel-arbetsbok"
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise too_large(expected, f"filen är {size // MiB} MiB")
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != ZIP_MAGIC:
                return False  # calamine and _unreadable_xlsx_detail say what it is
        total = kept_bytes = 0
        date1904 = False
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > 10_000:
                raise too_large(expected, f"arbetsboken har {len(infos)} delar")
            names = {i.filename for i in infos}
            if "xl/vbaProject.bin" in names:
                raise UnreadableFile(expected, "makron", code="FILE_MACRO")
            for info in infos:
                if info.is_dir():
                    continue
                declared = info.file_size
                if declared > MAX_UNCOMPRESSED_BYTES or total + declared > MAX_UNCOMPRESSED_BYTES:
                    raise too_large(expected, f"delen {info.filename[:60]} blir {declared // MiB} MiB uppackad")
                head = b""
                read = 0
                kept: list[bytes] | None = [] if keep is not None and _inspected(info.filename) else None
                extent = SheetExtent() if info.filename.startswith("xl/worksheets/") else None
                with z.open(info) as part:
                    while chunk := part.read(MiB):
                        read += len(chunk)
                        total += len(chunk)
                        if extent:
                            extent.feed(chunk)
                        if len(head) < 4096:
                            head += chunk[:4096 - len(head)]
                        if total > MAX_UNCOMPRESSED_BYTES:
                            raise too_large(expected, f"arbetsboken blir mer än {MAX_UNCOMPRESSED_BYTES // MiB} MiB "
                                                      "uppackad")
                        if kept is not None:  # given up once past KEEP_BYTES: the memory stays bounded
                            kept = kept + [chunk] if kept_bytes + read <= KEEP_BYTES else None
                if kept is not None:
                    keep[info.filename] = b"".join(kept)
                    kept_bytes += read
                ratio = read // max(info.compress_size, 1)
                if read > MiB and ratio > MAX_RATIO:
                    raise too_large(expected, f"delen {info.filename[:60]} packas upp {ratio} gånger "
                                              "(en så kallad zip-bomb)")
                if info.filename == "[Content_Types].xml" and b"macroEnabled" in head:
                    raise UnreadableFile(expected, "makron", code="FILE_MACRO")
                if info.filename == "xl/workbook.xml" and _DATE1904.search(head):
                    date1904 = True
                if extent:
                    extent.feed(b"", last=True)
                    if not extent.plain:  # cell tags of an unusual form: parse the part as calamine will
                        with z.open(info) as part:
                            extent = SheetExtent.parsed(part)
                    _check_extent(extent, expected)
    except UnreadableFile:
        raise
    except Exception:  # noqa: BLE001 - a broken zip raises many kinds (BadZipFile, zlib.error, EOFError, ...)
        raise _unreadable_xlsx_detail(path) from None
    return date1904


def _check_extent(extent: SheetExtent, expected: str) -> None:
    last_column = _ref(0, extent.columns - 1)[:-1]  # its letters
    if extent.columns > MAX_COLUMNS:
        raise too_large(expected, f"ett blad har en cell med innehåll i kolumn {last_column}, längre ut än de "
                                  f"{_spaced(MAX_COLUMNS)} kolumner som läses")
    if extent.cells > MAX_CELLS:
        raise too_large(expected, f"ett blad har innehåll ända ned till rad {extent.rows} och ut till kolumn "
                                  f"{last_column}, fler celler än de {_spaced(MAX_CELLS)} som läses")


def _spaced(number: int) -> str:
    return f"{number:,}".replace(",", " ")  # 4 000 000, as Swedish writes it


def read_xlsx(path: Path, max_rows: int | None = None) -> Sheets:
    parts: dict[str, bytes] = {}
    date1904 = check_package(path, keep=parts)
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise UnreadableFile("Excel-arbetsbok", "arbetsboken är lösenordsskyddad", code="FILE_ENCRYPTED") from None
    except Exception:  # calamine raises several types for broken zips/XML
        raise _unreadable_xlsx_detail(path) from None
    try:
        sheets: dict[str, list[list[Cell]]] = {}
        row_counts: dict[str, int] = {}
        merged: dict[str, tuple[str, ...]] = {}
        for name in workbook.sheet_names:
            sheet = workbook.get_sheet_by_name(name)
            if max_rows is not None and sheet.height > max_rows + 2:
                # Stream: a runaway sheet is counted, not copied into Python objects.
                rows, count = _keep_rows(sheet.iter_rows(), max_rows)
                if count is not None:
                    row_counts[name] = count
            else:
                # skip_empty_area=False keeps row 1 at index 0, so row numbers match Excel.
                rows = sheet.to_python(skip_empty_area=False)
            sheets[name] = rows
            merged[name] = tuple(f"{_ref(r0, c0)}:{_ref(r1, c1)}" for (r0, c0), (r1, c1) in
                                 (sheet.merged_cell_ranges or []))
    except Exception as exc:
        raise UnreadableFile("Excel-arbetsbok", f"ett blad kunde inte läsas ({type(exc).__name__})") from None
    finally:
        workbook.close()
    try:
        findings = _inspect_xml(path, parts)
    except Exception as exc:  # noqa: BLE001 - calamine read the values; the extra look must not crash ingest
        log.warning("Could not inspect %s for formulas and hidden rows (%s)", path.name, type(exc).__name__)
        findings = {}
    for name, ranges in merged.items():
        if ranges:
            found = findings.get(name, SheetFindings())
            findings[name] = SheetFindings(ranges, found.hidden_rows, found.formulas_without_value,
                                           found.error_values)
    return Sheets(sheets, row_counts=row_counts, findings={k: v for k, v in findings.items() if v},
                  date1904=date1904)


def _ref(row: int, col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


# --- what calamine does not tell: hidden rows, formulas without a value, error values ---

_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_HIDDEN = re.compile(rb'\bhidden="(?:1|true)"')
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
_CELL_REF = re.compile(rb'\br="([A-Z]+\d+)"')
_CELL_TYPE = re.compile(rb'\bt="(\w+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_VALUE = re.compile(rb"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.DOTALL)
_TEXT_TYPES = {b"str", b"s", b"inlineStr"}  # an empty text result is a value


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _inspected(member: str) -> bool:
    """The parts _inspect_xml reads."""
    return member.startswith("xl/worksheets/") or member in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")


def _sheet_parts(read) -> dict[str, str]:
    """Sheet name -> the zip member holding its XML."""
    rels = {}
    for rel in ET.fromstring(read("xl/_rels/workbook.xml.rels")):
        target = rel.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        rels[rel.get("Id")] = target
    parts = {}
    for element in ET.fromstring(read("xl/workbook.xml")).iter():
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
            if rid in rels:
                parts[element.get("name")] = rels[rid]
    return parts


def _inspect_xml(path: Path, parts: dict[str, bytes] | None = None) -> dict[str, SheetFindings]:
    """Hidden rows, formulas without a value and error values per sheet. The parts check_package kept
    are read from `parts`; any other part from the zip, opened only then."""
    findings = {}
    with contextlib.ExitStack() as stack:
        opened: list[zipfile.ZipFile] = []

        def read(member: str) -> bytes:
            if parts and member in parts:
                return parts[member]
            if not opened:
                opened.append(stack.enter_context(zipfile.ZipFile(path)))
            return opened[0].read(member)

        for name, part in _sheet_parts(read).items():
            xml = read(part)
            hidden: list[int] = []
            if b'hidden="1"' in xml or b'hidden="true"' in xml:
                for m in _ROW.finditer(xml):
                    if _HIDDEN.search(m[1]) and (number := _ROW_NUMBER.search(m[1])):
                        hidden.append(int(number[1]))
            no_value: list[str] = []
            errors: list[tuple[str, str]] = []
            # (no "<f" and no ":f" anywhere: _FORMULA cannot match, and the byte search is far quicker)
            if ((b"<f" in xml or b":f" in xml) and _FORMULA.search(xml)) or b't="e"' in xml:
                for m in _CELL.finditer(xml):
                    attrs, content = m[1], m[2] or b""
                    ref = _CELL_REF.search(attrs)
                    ref = ref[1].decode() if ref else "?"
                    kind = _CELL_TYPE.search(attrs)
                    kind = kind[1] if kind else b"n"
                    found = _VALUE.search(content)
                    value = found[1] if found else b""
                    if kind == b"e":
                        errors.append((ref, value.decode("utf-8", "replace") or "#?"))
                    elif _FORMULA.search(content) and (found is None if kind in _TEXT_TYPES else not value.strip()):
                        no_value.append(ref)  # (an empty text result, <v></v>, is a value)
            findings[name] = SheetFindings((), tuple(hidden), tuple(no_value), tuple(errors))
    return findings


# --- CSV ---

def detect_encoding(data: bytes) -> str:
    """UTF-16 or UTF-8 by their BOM, UTF-8 if it decodes, otherwise Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def detect_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0] if text else ""
    # The format asks for semicolons; tolerate comma and tab exports.
    counts = {d: header.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ";"


def _lines(text: str):
    """The lines of `text` with their endings, one at a time (a StringIO would hold 4 bytes per character).

    Lines end at LF (with or without CR); a file with CR alone (old Mac Excel) ends them at CR.
    A quoted cell spanning lines is joined again by the csv reader.
    """
    end_of_line = "\n" if "\n" in text else "\r"
    start = 0
    while start < len(text):
        end = text.find(end_of_line, start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _cr_only_in_quotes(text: str) -> bool:
    """Whether every lone CR is inside a quoted cell (a cell may hold line breaks)."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "\r" and not quoted and (i + 1 == len(text) or text[i + 1] != "\n"):
            return False
    return True


def read_csv(path: Path, sheet_name: str, max_rows: int | None = None) -> Sheets:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise too_large("CSV-fil", f"filen är {size // MiB} MiB")
    data = path.read_bytes()
    encoding = detect_encoding(data)
    if encoding != "utf-16" and data.startswith((ZIP_MAGIC, OLE_MAGIC)):
        raise UnreadableFile("CSV-fil", "filen innehåller binära data (är det en Excel-fil med fel filändelse?)")
    if encoding != "utf-16" and (nul := data.find(b"\x00")) >= 0:
        raise UnreadableFile("CSV-fil", "NUL", code="BINARY_CONTENT", row=data.count(b"\n", 0, nul) + 1)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise UnreadableFile("CSV-fil", "teckenkodningen känns inte igen; spara som UTF-8") from None
    del data
    text = text.removeprefix("\ufeff")
    if encoding == "utf-16" and "\x00" in text:
        raise UnreadableFile("CSV-fil", "NUL", code="BINARY_CONTENT", row=text.count("\n", 0, text.find("\x00")) + 1)
    if "\n" in text and re.search(r"\r(?!\n)", text) and not _cr_only_in_quotes(text):
        raise UnreadableFile("CSV-fil", "radslut", code="CSV_LINE_ENDINGS")
    delimiter = detect_delimiter(text)
    reader = csv.reader(_lines(text), delimiter=delimiter)
    try:
        rows, count = _keep_rows(([cell if cell.strip() else None for cell in row] for row in reader), max_rows)
    except csv.Error:
        raise UnreadableFile("CSV-fil", "citattecknen eller radsluten går inte ihop (en cell saknar sitt "
                                        "avslutande citattecken?)") from None
    return Sheets({sheet_name: rows}, encoding=encoding, delimiter=delimiter,
                  row_counts={sheet_name: count} if count is not None else {})
