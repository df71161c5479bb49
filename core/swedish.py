"""Swedish conventions for everything people read: numbers, dates, symbols and orders.

One home for them, used by the reports, the charts, the feedback pages, the read API's
labels and the status output meant for people:

- a decimal comma (8,5), a thin no-break space between thousands (12 345);
- a no-break space before `%` (72 %), and percentage points written out;
- Statistics Sweden's symbols: `..` for a value withheld (disclosure control, or too
  few to publish) and `.` for no value (nobody in the group, or no such combination);
- women, men, everyone in that order (Kvinnor, Män, Totalt) in every table;
- dates as "1 december 2026".

Pure Python: the bottom layer imports no pandas, so a missing value is recognised by
what it does (NaN and pandas' NA are not equal to themselves) rather than by its type.
"""

from __future__ import annotations

from datetime import date

THIN = "\u202f"  # narrow no-break space: thousands separator
NBSP = "\u00a0"  # before % and units
MINUS = "\u2212"
SUPPRESSED = ".."  # withheld: the status of such a cell in the published database, and what every reader sees
NO_VALUE = "."  # no value: nobody in the group, or no such combination in the table
GENDERS = ("K", "M", "T")  # the column order in every table: Kvinnor, Män, Totalt
GENDER_NAMES = {"K": "Kvinnor", "M": "Män", "T": "Totalt"}
GENDER_NAMES_EN = {"K": "Women", "M": "Men", "T": "Total"}
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]


def missing(value) -> bool:
    """None, NaN or pandas' NA (comparing NA raises, NaN is unequal to itself)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA: its comparisons are NA, whose truth value is undefined
        return True


def decimal(value, decimals: int = 1) -> str:
    """8.5 -> '8,5'; 12345.6 -> '12 345,6'; withheld -> '..'."""
    if missing(value):
        return SUPPRESSED
    text = f"{abs(float(value)):,.{decimals}f}".replace(",", THIN).replace(".", ",")
    return (MINUS if float(value) < 0 and text.strip("0,\u202f") else "") + text


def num(value) -> str:
    """A count: 12345 -> '12 345'."""
    if missing(value):
        return SUPPRESSED
    return f"{int(value):,}".replace(",", THIN)


def pct(value, decimals: int = 0) -> str:
    """A share: 0.7234 -> '72 %', with `decimals` -> '72,3 %'."""
    if missing(value):
        return SUPPRESSED
    return decimal(value * 100, decimals) + NBSP + "%"


def pp(value) -> str:
    """A difference in percentage points, signed: +4, −3, ±0."""
    if missing(value):
        return SUPPRESSED
    points = round(value * 100)
    return ("+" if points > 0 else MINUS if points < 0 else "±") + f"{abs(points)}"


def swedish_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


_SWEDISH_LETTERS = str.maketrans({"å": "{", "ä": "|", "ö": "}", "é": "e", "ü": "y"})  # after z


def sort_key(text: str) -> str:
    """Swedish alphabetical order: … x, y, z, å, ä, ö (not the code-point order Ä, Å, Ö)."""
    return str(text).lower().translate(_SWEDISH_LETTERS)
