"""Swedish conventions for everything people read: numbers, dates and orders.

One home for them, used by the reports, the charts, the feedback pages and the
status output meant for people:

- a decimal comma (8,5), a thin no-break space between thousands (12 345);
- a no-break space before `%` (72 %), and percentage points written out;
- suppressed values as `..` (explained once in each document);
- women, men, everyone in that order (Kvinnor, Män, Alla) in every table;
- dates as "1 december 2026".
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

THIN = "\u202f"  # narrow no-break space: thousands separator
NBSP = "\u00a0"  # before % and units
MINUS = "\u2212"
SUPPRESSED = ".."
GENDERS = ("K", "M", "T")  # the column order in every table: Kvinnor, Män, Alla
GENDER_NAMES = {"K": "Kvinnor", "M": "Män", "T": "Alla"}
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]


def missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def decimal(value, decimals: int = 1) -> str:
    """8.5 -> '8,5'; 12345.6 -> '12 345,6'; suppressed -> '..'."""
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


def join_words(words: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b och c'."""
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " och " + words[-1]


_SWEDISH_LETTERS = str.maketrans({"å": "{", "ä": "|", "ö": "}", "é": "e", "ü": "y"})  # after z


def sort_key(text: str) -> str:
    """Swedish alphabetical order: … x, y, z, å, ä, ö (not the code-point order Ä, Å, Ö)."""
    return str(text).lower().translate(_SWEDISH_LETTERS)
