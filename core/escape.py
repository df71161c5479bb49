"""Text from submitted files made safe for each renderer: the one place for escaping.

Values a federation or agency typed (an insats code, a federation's or a file's
name) reach three kinds of renderer, and each has its own meta-characters:

- **matplotlib** (`chart_text`): `$…$` starts mathtext, so `Kurs $\\x$` would make the
  chart renderer fail; every `$` is escaped (`\\$` is a literal dollar) and control
  characters, which a font cannot draw, are dropped.
- **HTML**: Jinja's autoescape, on for every template the product renders (reports,
  feedback pages, the gate's page), escapes `< > & " '`; chart SVGs are inserted with
  `| safe` because matplotlib escapes their text itself.
- **CSV and spreadsheets** (`spreadsheet_cell`): a cell starting with `=`, `+`, `-`,
  `@`, a tab or a carriage return is run as a formula by Excel (formula injection), so
  such text gets a leading apostrophe, OWASP's recommendation. Every text cell the read
  API and `nns export` write to csv or xlsx passes through it; workbooks the product
  writes (ingest/template.py) also write every string as a string (`strings_to_formulas` off).
"""

from __future__ import annotations

import unicodedata

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def chart_text(value: object) -> str:
    """Text for a matplotlib title, label, tick or legend: shown as written, never as mathtext."""
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch == "\n")
    return text.replace("$", r"\$")


def spreadsheet_cell(value: object) -> object:
    """A value for a CSV or Excel cell that Excel will not run as a formula; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
