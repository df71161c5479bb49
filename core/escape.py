"""Text from submitted files made safe for each renderer: the one place for escaping.

Values a federation or agency typed (an insats code, a federation's or a file's
name) reach three kinds of renderer, and each has its own meta-characters:

- **SVG charts** (`svg_text`): XML's `< > & " '` are escaped and control characters,
  which XML forbids and no font draws, are dropped, so a name is drawn as written.
- **HTML**: Jinja's autoescape, on for every template the product renders (reports,
  feedback pages, the gate's page), escapes `< > & " '`; chart SVGs are inserted with
  `| safe` because every text in them passed through `svg_text`.
- **Typst** (the PDFs): every text run is embedded as a Typst string literal
  (`report.pdf.string`), so no markup in it is ever read.
- **CSV and spreadsheets** (`spreadsheet_cell`): a cell starting with `=`, `+`, `-`,
  `@`, a tab or a carriage return is run as a formula by Excel (formula injection), so
  such text gets a leading apostrophe, OWASP's recommendation. Every text cell the read
  API and `nns export` write to csv or xlsx passes through it; workbooks the product
  writes (ingest/template.py) also write every string as a string (`strings_to_formulas` off).
"""

from __future__ import annotations

import unicodedata
from html import escape

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def svg_text(value: object) -> str:
    """Text for an SVG element: control characters (which no font draws, and XML forbids) dropped,
    the rest escaped, so a name typed in a submitted file is drawn as written."""
    text = "".join(ch for ch in str(value) if unicodedata.category(ch)[0] != "C")
    return escape(text, quote=True)


def spreadsheet_cell(value: object) -> object:
    """A value for a CSV or Excel cell that Excel will not run as a formula; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
