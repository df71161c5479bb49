"""Reading a submitted file into sheets of raw cell values.

A sheet is a list of rows as they stand in the file, starting at row 1, so a
row's index + 1 is the row number the submitter sees in Excel. No values are
interpreted here; the contract does that, cell by cell, with sheet/row/column.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import python_calamine

Cell = object  # str | int | float | bool | date | datetime | None


class UnreadableFile(Exception):
    """The bytes are not a workbook/CSV we can read; the message is Swedish."""

    def __init__(self, expected: str, detail: str):
        super().__init__(detail)
        self.expected = expected
        self.detail = detail


@dataclass(frozen=True)
class Sheets:
    """The readable content of one submitted file."""

    sheets: dict[str, list[list[Cell]]]
    encoding: str | None = None  # CSV only
    delimiter: str | None = None  # CSV only


def read_xlsx(path: Path) -> Sheets:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise UnreadableFile("Excel-arbetsbok", "arbetsboken är lösenordsskyddad") from None
    except Exception as exc:  # calamine raises several types for broken zips/XML
        raise UnreadableFile("Excel-arbetsbok", f"filen är skadad eller inte en .xlsx-fil ({type(exc).__name__})") from None
    try:
        sheets = {}
        for name in workbook.sheet_names:
            # skip_empty_area=False keeps row 1 at index 0, so row numbers match Excel.
            sheets[name] = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        return Sheets(sheets)
    except Exception as exc:
        raise UnreadableFile("Excel-arbetsbok", f"ett blad kunde inte läsas ({type(exc).__name__})") from None
    finally:
        workbook.close()


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) if it decodes, otherwise Windows-1252."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def detect_delimiter(text: str) -> str:
    header = text.splitlines()[0] if text else ""
    # The format asks for semicolons; tolerate comma and tab exports.
    counts = {d: header.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ";"


def read_csv(path: Path, sheet_name: str) -> Sheets:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise UnreadableFile("CSV-fil", "filen innehåller binära data (är det en Excel-fil med fel filändelse?)")
    encoding = detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise UnreadableFile("CSV-fil", "teckenkodningen känns inte igen; spara som UTF-8") from None
    delimiter = detect_delimiter(text)
    rows: list[list[Cell]] = [
        [cell if cell.strip() else None for cell in row]
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    ]
    return Sheets({sheet_name: rows}, encoding=encoding, delimiter=delimiter)
