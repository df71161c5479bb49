"""Personnummer: forms, century, samordningsnummer, Luhn, gender, pseudonyms.

The numbers are constructed here (check digit computed), not taken from real people.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.personnummer import (
    REDACTED,
    contains_personal_number,
    format_number,
    gender_of,
    is_samordningsnummer,
    luhn_digit,
    normalise,
    pseudonymise,
    redact,
)

TODAY = date(2025, 6, 15)


def make(yyyymmdd: str, nnn: str) -> str:
    """A canonical 12-digit number with a correct check digit."""
    return f"{yyyymmdd}{nnn}{luhn_digit(yyyymmdd[2:] + nnn)}"


def wrong_check(canonical: str) -> str:
    return canonical[:11] + str((int(canonical[11]) + 1) % 10)


def test_luhn_digit_known_values():
    # Worked by hand: weights 2,1,2,... over 7 9 0 3 1 2 4 5 6 give
    # 14->5, 9, 0, 3, 2, 2, 8, 5, 12->3, sum 37, so the check digit is 3.
    assert luhn_digit("790312456") == 3
    assert luhn_digit("000000000") == 0
    assert luhn_digit("100000000") == 8  # 1*2 = 2 -> (10 - 2) % 10
    assert luhn_digit("050000000") == 5  # 5*1 = 5
    assert luhn_digit("900000000") == 1  # 9*2 = 18 -> 1+8 = 9


@pytest.mark.parametrize("bad", ["", "12345678", "1234567890", "12345678a", "１２３４５６７８９"])
def test_luhn_digit_rejects_non_nine_digits(bad):
    with pytest.raises(ValueError):
        luhn_digit(bad)


def test_twelve_digits_with_and_without_dash():
    pn = make("19790312", "456")
    assert pn == "197903124563"
    assert normalise("19790312-4563", today=TODAY) == pn
    assert normalise("197903124563", today=TODAY) == pn
    assert normalise(" 19790312 - 4563 ", today=TODAY) == pn  # stray spaces


def test_ten_digits_century_from_today():
    pn = make("19790312", "456")
    assert normalise("790312-4563", today=TODAY) == pn
    assert normalise("7903124563", today=TODAY) == pn
    recent = make("20100305", "123")
    assert normalise(format_number(recent, "10-"), today=TODAY) == recent
    assert normalise(format_number(recent, "10"), today=TODAY) == recent


def test_ten_digits_never_born_in_the_future():
    # Born 25-06-16: tomorrow relative to TODAY in 2025, so it must be 1925.
    tomorrow = make("19250616", "222")
    assert normalise(format_number(tomorrow, "10-"), today=TODAY) == tomorrow
    born_today = make("20250615", "222")
    assert normalise(format_number(born_today, "10-"), today=TODAY) == born_today


def test_plus_means_a_hundred_or_older():
    centenarian = make("19200101", "456")
    assert normalise("200101+" + centenarian[8:], today=TODAY) == centenarian
    assert normalise("200101-" + centenarian[8:], today=TODAY) == "2020" + centenarian[4:]
    # Turns 100 tomorrow: with '+' it can only be the century before.
    almost = make("18250616", "456")
    assert normalise(format_number(almost, "10+"), today=TODAY) == almost


def test_plus_with_explicit_century_keeps_the_century():
    pn = make("19790312", "456")
    assert normalise("19790312+4563", today=TODAY) == pn


def test_samordningsnummer_day_plus_sixty():
    sam = make("19790372", "123")  # born the 12th: 12 + 60 = 72
    assert normalise(format_number(sam, "12-"), today=TODAY) == sam
    assert normalise(format_number(sam, "10-"), today=TODAY) == sam
    assert is_samordningsnummer(sam)
    assert not is_samordningsnummer(make("19790312", "123"))
    assert normalise(make("19810291", "123"), today=TODAY) is None  # 31 February
    assert normalise(make("19810192", "123"), today=TODAY) is None  # day 32 + 60


@pytest.mark.parametrize("yyyymmdd", ["19810229", "19811301", "19810000", "19810100", "19810431", "19000229"])
def test_invalid_dates(yyyymmdd):
    assert normalise(make(yyyymmdd, "123"), today=TODAY) is None


def test_leap_days():
    assert normalise(make("20000229", "123"), today=TODAY) == make("20000229", "123")
    assert normalise(make("19840229", "123"), today=TODAY) == make("19840229", "123")
    # 10 digits '000229': 2000 is the most recent century and is a leap year.
    assert normalise(format_number(make("20000229", "123"), "10-"), today=TODAY) == make("20000229", "123")
    # with '+' it would be 1900, which is not a leap year
    assert normalise(format_number(make("20000229", "123"), "10+"), today=TODAY) is None


def test_born_in_the_future_is_invalid():
    assert normalise(make("20300101", "123"), today=TODAY) is None


def test_bad_check_digit():
    pn = make("19790312", "456")
    assert normalise(wrong_check(pn), today=TODAY) is None
    assert normalise(format_number(wrong_check(pn), "10-"), today=TODAY) is None


@pytest.mark.parametrize("garbage", [
    None, 197903124563, 1.5, b"197903124563", "", "   ", "abc", "19790312_4563", "19790312--4563",
    "790312/4563", "1979031245631", "97903124563", "19790312-456", "+197903124563", "197903124563-",
    "１９８１１２１８９８７６",  # full-width digits
    "19790312-4563\n19790312-4563", [], {},
])
def test_garbage_is_none_and_never_raises(garbage):
    assert normalise(garbage, today=TODAY) is None


def test_default_today_is_used():
    pn = make("19790312", "456")
    assert normalise("790312-4563") == pn
    next_year = date.today() + timedelta(days=400)
    assert normalise(make(next_year.strftime("%Y%m%d"), "123")) is None


def test_gender_parity():
    assert gender_of(make("19790312", "120")) == "K"
    assert gender_of(make("19790312", "128")) == "K"
    assert gender_of(make("19790312", "121")) == "M"
    assert gender_of(make("19790312", "009")) == "M"
    # the third birth-number digit decides, not the first two
    assert gender_of(make("19790312", "990")) == "K"


def test_canonical_checks_do_not_leak_the_value():
    with pytest.raises(ValueError) as err:
        gender_of("790312-4563")
    assert "4563" not in str(err.value)


def test_pseudonymise_is_deterministic_and_keyed():
    pn = make("19790312", "456")
    a = pseudonymise(pn, b"key-one")
    assert a == pseudonymise(pn, b"key-one")
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != pseudonymise(pn, b"key-two")
    assert a != pseudonymise(make("19790312", "458"), b"key-one")
    assert pn not in a
    with pytest.raises(ValueError):
        pseudonymise(pn, b"")


def test_format_number_forms():
    pn = make("19790312", "456")
    assert format_number(pn, "12-") == "19790312-4563"
    assert format_number(pn, "12") == "197903124563"
    assert format_number(pn, "10-") == "790312-4563"
    assert format_number(pn, "10+") == "790312+4563"
    assert format_number(pn, "10") == "7903124563"
    with pytest.raises(ValueError):
        format_number(pn, "11")


@st.composite
def canonical_numbers(draw):
    born = draw(st.dates(min_value=date(1930, 1, 1), max_value=TODAY))
    nnn = f"{draw(st.integers(0, 999)):03d}"
    day = born.day + (60 if draw(st.booleans()) else 0)
    return make(f"{born:%Y%m}{day:02d}", nnn)


@settings(max_examples=300, deadline=None)
@given(canonical_numbers(), st.sampled_from(["12-", "12", "10-", "10"]))
def test_round_trip_every_form(pn, form):
    """Anyone under 100 is recovered from every form written without '+'."""
    assert normalise(format_number(pn, form), today=TODAY) == pn


@settings(max_examples=300, deadline=None)
@given(canonical_numbers(), st.integers(1, 9))
def test_any_single_digit_change_in_the_check_digit_is_caught(pn, delta):
    changed = pn[:11] + str((int(pn[11]) + delta) % 10)
    assert normalise(changed, today=TODAY) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_never_raises_on_any_text(text):
    result = normalise(text, today=TODAY)
    assert result is None or (len(result) == 12 and result.isdigit())


# --- finding numbers inside text, and masking them in messages ------------------------------------

PERSON = make("19850314", "123")
COORDINATION = make("19880372", "154")  # day 12 + 60


@pytest.mark.parametrize("form", ["12-", "12", "10-", "10+", "10"])
@pytest.mark.parametrize("number", [PERSON, COORDINATION])
def test_the_scanner_finds_every_written_form_alone_and_inside_text(form, number):
    if form == "10+":
        number = make("19200315", "282")  # '+' is written from the age of 100
    written = format_number(number, form)
    for text in (written, f"Kurs {written} vt", f"x{written}y", f"rad 7: {written}.", f"{written[:4]} {written[4:]}"):
        assert contains_personal_number(text), text
        assert not contains_personal_number(redact(text))
        assert "".join(ch for ch in written if ch.isdigit()) not in "".join(ch for ch in redact(text) if ch.isdigit())


def test_the_scanner_checks_windows_inside_longer_digit_runs():
    assert contains_personal_number("7" + PERSON + "9")  # 14 digits: the 12 inside still count
    assert contains_personal_number("12" + format_number(PERSON, "10"))
    assert contains_personal_number("Löpnr " + format_number(PERSON, "12-") + "-2")


def test_the_scanner_ignores_what_is_not_a_valid_number():
    for text in ("12", "2025-03-14", "20250314", "Kurs 2025-03-14 vt", "STEG1", "4,5", "1 000 000",
                 format_number(wrong_check(PERSON), "12-"), format_number(wrong_check(PERSON), "10"),
                 "19851314-1234", None, ""):
        assert not contains_personal_number(text), text


def test_redact_masks_any_ten_or_twelve_digit_shape_even_with_a_wrong_check_digit():
    for text in (format_number(wrong_check(PERSON), "12-"), "1234567890", "123456-7890", "12345678+9012"):
        assert redact(text) == REDACTED, text
        assert redact(f"Värdet '{text}'") == f"Värdet '{REDACTED}'"


def test_redact_keeps_ordinary_values():
    for text in ("12", "2025-03-14", "20250314", "rad 2, 3, 4 …", "Kurs STEG1", "4,5", "D (Löpnummer)"):
        assert redact(text) == text


def test_a_problem_message_never_quotes_a_number():
    from ingest.problems import problem

    written = format_number(PERSON, "12-")
    p = problem("CODE_INVALID", sheet=f"Blad {written}", row=3, column=f"E ({written})", value=f"'{written}'",
                allowed="K, M")
    for text in (p.message, p.action, p.where(), str(p.to_dict())):
        assert not contains_personal_number(text) and PERSON[2:8] not in text
