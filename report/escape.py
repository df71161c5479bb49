"""Text from submitted files made safe for each renderer: the one place for escaping.

Values a federation or agency typed (an insats code, a federation's or a file's
name) reach three renderers, and each has its own meta-characters:

- **matplotlib** (`chart_text`): `$…$` starts mathtext, so `Kurs $\\x$` would make the
  chart renderer fail; every `$` is escaped (`\\$` is a literal dollar) and control
  characters, which a font cannot draw, are dropped.
- **HTML** (`html_text`): Jinja's autoescape (report/build.py turns it on for every
  template) escapes `< > & " '`; `html_text` is the same function for text built
  outside a template. Chart SVGs are inserted with `| safe` because matplotlib escapes
  their text itself.
- **CSV and Excel exports** (`spreadsheet_cell`): a cell starting with `=`, `+`, `-`,
  `@`, a tab or a carriage return is run as a formula by Excel (formula injection), so
  such text gets a leading apostrophe, OWASP's recommendation. Workbooks the product
  writes (ingest/template.py) write every string as a string (`strings_to_formulas` off).
"""

from __future__ import annotations

import unicodedata

from markupsafe import escape

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def chart_text(value: object) -> str:
    """Text for a matplotlib title, label, tick or legend: shown as written, never as mathtext."""
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch == "\n")
    return text.replace("$", r"\$")


def html_text(value: object) -> str:
    """Text for HTML outside a template (a template autoescapes)."""
    return str(escape("" if value is None else str(value)))


def spreadsheet_cell(value: object) -> object:
    """A value for a CSV or Excel cell that Excel will not run as a formula; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
