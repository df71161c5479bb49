"""Swedish personal identity numbers (personnummer and samordningsnummer).

Pure functions, no I/O and no logging: a personnummer must never reach a log,
an error text or the warehouse. Ingest normalises every written form to one
canonical 12-digit string (YYYYMMDDNNNC) and immediately replaces it by a keyed
pseudonym (`pseudonymise`). Nothing here puts the number into an exception
message.

Forms accepted by `normalise` (spaces anywhere are ignored):

- 12 digits, ``YYYYMMDD-NNNC`` or ``YYYYMMDDNNNC`` (the century is explicit);
- 10 digits, ``YYMMDD-NNNC``, ``YYMMDDNNNC`` or ``YYMMDD+NNNC`` (the century is
  inferred: ``+`` is written from the year a person turns 100).

A samordningsnummer (coordination number) is a personnummer whose day has 60
added; it keeps that day in the canonical form, since that is what makes it a
different identity from the personnummer with the same digits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

__all__ = [
    "FORMS",
    "REDACTED",
    "contains_personal_number",
    "format_number",
    "gender_of",
    "is_samordningsnummer",
    "luhn_digit",
    "normalise",
    "plus_sets_century",
    "pseudonymise",
    "redact",
]

SAMORDNING_OFFSET = 60
FORMS = ("12-", "12", "10-", "10+", "10")

_WHITESPACE = re.compile(r"\s+")
# ASCII digits only: str.isdigit() would also accept e.g. superscripts.
_TWELVE = re.compile(r"(\d{8})([-+]?)(\d{4})", re.ASCII)
_TEN = re.compile(r"(\d{6})([-+]?)(\d{4})", re.ASCII)
_CANONICAL = re.compile(r"\d{12}", re.ASCII)

# Finding numbers inside free text: a run of digits that may be broken by whitespace,
# '-' or '+' (as people write them), then every 12- and 10-digit window of the run.
_DIGIT_RUN = re.compile(r"[0-9](?:[\s+\-]*[0-9])*")
_TWELVE_WINDOW = re.compile(r"[0-9]{8}[-+]?[0-9]{4}")
_TEN_WINDOW = re.compile(r"[0-9]{6}[-+]?[0-9]{4}")
REDACTED = "[personnummer borttaget]"


def luhn_digit(nine_digits: str) -> int:
    """The Luhn check digit over YYMMDDNNN (the 10-digit form minus its last digit).

    Weights 2,1,2,1,...; the digits of each product are summed.
    """
    if len(nine_digits) != 9 or not nine_digits.isascii() or not nine_digits.isdigit():
        raise ValueError("luhn_digit needs exactly nine ASCII digits")
    total = 0
    for i, ch in enumerate(nine_digits):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def normalise(text: str, *, today: date | None = None) -> str | None:
    """The canonical 12-digit form YYYYMMDDNNNC of a written number, or None if invalid.

    Checks a real calendar date (day - 60 for samordningsnummer), a birth date not
    after `today`, and the Luhn digit. Never raises: anything unusable is None.
    For 12-digit input the explicit century wins, whatever the separator.
    """
    try:
        return _normalise(text, today or date.today())
    except Exception:  # noqa: BLE001 - bad input must never raise (or leak its value)
        return None


def _normalise(text: str, today: date) -> str | None:
    if not isinstance(text, str):
        return None
    compact = _WHITESPACE.sub("", text)
    if m := _TWELVE.fullmatch(compact):
        head, _sep, tail = m.groups()
        year, month, day = int(head[:4]), int(head[4:6]), int(head[6:8])
    elif m := _TEN.fullmatch(compact):
        head, sep, tail = m.groups()
        yy, month, day = int(head[:2]), int(head[2:4]), int(head[4:6])
        birth_day = day - SAMORDNING_OFFSET if day > SAMORDNING_OFFSET else day
        # The most recent century in which the birth date is not in the future;
        # compared as tuples so an impossible date (Feb 29) cannot raise here.
        year = (today.year // 100) * 100 + yy
        if (year, month, birth_day) > (today.year, today.month, today.day):
            year -= 100
        if sep == "+":  # 100 or older: one century further back
            year -= 100
    else:
        return None

    birth_day = day - SAMORDNING_OFFSET if day > SAMORDNING_OFFSET else day
    born = _valid_date(year, month, birth_day)
    if born is None or born > today:
        return None
    ten = f"{year % 100:02d}{month:02d}{day:02d}{tail}"
    if luhn_digit(ten[:9]) != int(ten[9]):
        return None
    return f"{year:04d}{month:02d}{day:02d}{tail}"


def plus_sets_century(text: str) -> bool:
    """True for a 10-digit number written with '+' (``YYMMDD+NNNC``): the one form whose century
    the '+' decides. A 12-digit number carries its century whatever the separator."""
    if not isinstance(text, str):
        return False
    m = _TEN.fullmatch(_WHITESPACE.sub("", text))
    return m is not None and m[2] == "+"


def _check_canonical(canonical12: str) -> None:
    # The message deliberately does not contain the value.
    if not isinstance(canonical12, str) or not _CANONICAL.fullmatch(canonical12):
        raise ValueError("expected a canonical 12-digit number (use normalise() first)")


def is_samordningsnummer(canonical12: str) -> bool:
    """True for a coordination number (day of month + 60)."""
    _check_canonical(canonical12)
    return int(canonical12[6:8]) > SAMORDNING_OFFSET


def gender_of(canonical12: str) -> str:
    """'M' or 'K' from the third birth-number digit (index 10): odd men, even women."""
    _check_canonical(canonical12)
    return "M" if int(canonical12[10]) % 2 else "K"


def pseudonymise(canonical12: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the canonical number.

    Keyed rather than a plain hash: the space of personnummer is small enough to
    hash exhaustively, so without the secret key a plain hash is reversible.
    """
    _check_canonical(canonical12)
    if not isinstance(key, bytes | bytearray) or not key:
        raise ValueError("pseudonymise needs a non-empty key (bytes)")
    return hmac.new(bytes(key), canonical12.encode("ascii"), hashlib.sha256).hexdigest()


def key_fingerprint(key: str | bytes) -> str:
    """A short, non-secret name for a pseudonym key: extracts loaded with the same key link.

    An HMAC of a fixed text (not of any number), so it reveals nothing about the key.
    """
    raw = key.encode() if isinstance(key, str) else bytes(key)
    return hmac.new(raw, b"nns pseudonym key fingerprint", hashlib.sha256).hexdigest()[:12]


def format_number(canonical12: str, form: str) -> str:
    """Write a canonical number in one of FORMS: '12-', '12', '10-', '10+', '10'.

    '10+' is only correct for people aged 100 or more; the caller chooses.
    """
    _check_canonical(canonical12)
    date_part, tail = canonical12[:8], canonical12[8:]
    if form == "12-":
        return f"{date_part}-{tail}"
    if form == "12":
        return canonical12
    if form == "10-":
        return f"{date_part[2:]}-{tail}"
    if form == "10+":
        return f"{date_part[2:]}+{tail}"
    if form == "10":
        return f"{date_part[2:]}{tail}"
    raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")


def _windows(text: str):
    """Every 12- and 10-digit window (separator allowed before the last four) of every digit run."""
    for run in _DIGIT_RUN.finditer(text):
        compact = _WHITESPACE.sub("", run.group())
        if sum(ch.isdigit() for ch in compact) < 10:
            continue
        for start in range(len(compact)):
            for shape in (_TWELVE_WINDOW, _TEN_WINDOW):
                if m := shape.match(compact, start):
                    yield m.group()


def contains_personal_number(text) -> bool:
    """True if a valid personnummer or samordningsnummer, in any written form, is anywhere in `text`.

    A window counts only with a real date and a valid check digit (`normalise`), so a
    serial, a date or an amount is not a hit; a window inside a longer run of digits is.
    """
    if text is None:
        return False
    return any(normalise(window) for window in _windows(str(text)))


def _has_ten_digits(run: re.Match) -> bool:
    return sum(ch.isdigit() for ch in run.group()) >= 10


def redact(text) -> str:
    """`text` with every run of ten or more digits (spaces, '-' and '+' between them allowed) masked.

    Deliberately wider than `contains_personal_number`: a message must not quote a number
    that could be a personnummer, even one with a wrong check digit or date.
    """
    text = str(text)
    return _DIGIT_RUN.sub(lambda run: REDACTED if _has_ten_digits(run) else run.group(), text)
