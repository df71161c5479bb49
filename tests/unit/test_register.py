"""Register extracts: personnummer handled in memory only, contracts, no copies."""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from core import ledger
from ingest.personnummer import format_number, luhn_digit, normalise
from ingest.register import MissingPseudonymKey
from ingest.submission import ingest_submission

HEADER = ["personnummer", "anonym", "kon", "fodelsear", "forbund", "insats", "startdatum", "slutdatum",
          "forsorjning_start", "forsorjning_slut", "ar_offentlig_forsorjning_fore", "avslutsorsak"]


def number(birth: str, serial: str) -> str:
    """A valid 12-digit number (YYYYMMDD + NNN + Luhn) made up for the test."""
    return birth + serial + str(luhn_digit(birth[2:] + serial))


MAN = number("19850314", "123")  # third serial digit odd: a man
WOMAN = number("19900702", "246")
SAMORDNING = number("19880372", "154")  # day 12 + 60
CENTENARIAN = number("19210505", "222")


def sus_row(pnr: str, kon: str, *, anonym: str = "0", start="2023-01-10", end="2023-09-30") -> list[str]:
    canonical = normalise(pnr) if pnr else None
    year = canonical[:4] if canonical else "1990"
    return [pnr, anonym, kon, year, "SF07", "STEG1", start, end, "a_kassa", "lon", "2", "forvarvsarbete"]


def write_sus(folder, rows, name="sus_deltagare_2024-06.csv"):
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def ingest_income(settings, folder, *rows: str):
    """An income extract for 2023 with these data lines (personnummer;manad;kategori;belopp), ingested."""
    path = folder / "inkomster_2023-01_2023-12.csv"
    path.write_text("personnummer;manad;kategori;belopp\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return ingest_submission(path, settings)


@pytest.fixture
def register_inbox(settings):
    folder = settings.inbox / "register"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def problems_of(settings, outcome) -> list[dict]:
    return json.loads((settings.quarantine / outcome.submission_id / "errors.json").read_text())["problems"]


def test_a_valid_extract_lands_pseudonymised_and_leaves_the_inbox(settings, register_inbox):
    rows = [sus_row(format_number(MAN, "12-"), "M"), sus_row(format_number(WOMAN, "10-"), "K"),
            sus_row(format_number(SAMORDNING, "12"), "M"), sus_row(format_number(CENTENARIAN, "10+"), "K"),
            sus_row("", "K", anonym="1")]
    path = write_sus(register_inbox, rows)
    outcome = ingest_submission(path, settings)
    assert outcome.status == "accepted", outcome.summary()
    assert not path.exists(), "removed from the inbox after a successful load"
    assert not any(settings.archive.iterdir()) and not any(settings.quarantine.iterdir()), "never copied"
    landed = settings.raw / "register" / outcome.submission_id / "participants.parquet"
    with duckdb.connect() as con:
        people = con.execute(f"select person_key, is_linkable from '{landed}' order by source_row").fetchall()
    assert [linkable for _, linkable in people] == [True, True, True, True, False]
    assert all(len(key) == 64 for key, linkable in people if linkable)
    assert len({key for key, _ in people}) == 5
    record = ledger.read_record(settings, outcome.submission_id)
    assert record.status == "accepted" and record.rows_total == 5
    assert ingest_submission(write_sus(register_inbox, rows), settings).status == "known"


def test_the_same_person_gets_the_same_pseudonym_whatever_the_written_form(settings, register_inbox):
    rows = [sus_row(format_number(MAN, form), "M") for form in ("12-", "12", "10-", "10")]
    outcome = ingest_submission(write_sus(register_inbox, rows), settings)
    landed = settings.raw / "register" / outcome.submission_id / "participants.parquet"
    with duckdb.connect() as con:
        assert con.execute(f"select count(distinct person_key) from '{landed}'").fetchone()[0] == 1


def test_no_key_no_load(settings, register_inbox, monkeypatch):
    monkeypatch.delenv("NNS_PSEUDONYM_KEY")
    from core.settings import get_settings

    path = write_sus(register_inbox, [sus_row(MAN, "M")])
    with pytest.raises(MissingPseudonymKey, match="NNS_PSEUDONYM_KEY"):
        ingest_submission(path, get_settings())
    assert path.exists() and ledger.all_records(get_settings()) == []


def test_an_invalid_number_is_rejected_by_row_never_by_value(settings, register_inbox):
    bad_luhn = MAN[:-1] + str((int(MAN[-1]) + 1) % 10)
    bad_date = "19901341" + "1234"
    rows = [sus_row(WOMAN, "K"), sus_row(bad_luhn, "M"), sus_row(bad_date, "M")]
    path = write_sus(register_inbox, rows)
    before = path.read_bytes()
    outcome = ingest_submission(path, settings)
    assert outcome.status == "rejected"
    assert path.read_bytes() == before, "a failing extract stays where it arrived, untouched"
    folder = settings.quarantine / outcome.submission_id
    assert [p.name for p in folder.iterdir()] == ["errors.json"], "no copy of the extract"
    text = (folder / "errors.json").read_text(encoding="utf-8")
    problems = json.loads(text)["problems"]
    assert problems[0]["code"] == "PNR_INVALID" and "rad 3, 4" in problems[0]["message"]
    for pnr in (bad_luhn, bad_date, WOMAN):
        for form in (pnr, pnr[2:], pnr[:8] + "-" + pnr[8:], pnr[2:8] + "-" + pnr[8:]):
            assert form not in text
    ledger = (settings.ledger / f"{outcome.submission_id}.json").read_text()
    assert bad_luhn not in ledger and bad_luhn[2:] not in ledger


def test_end_before_start_and_unknown_codes(settings, register_inbox):
    rows = [sus_row(WOMAN, "K", start="2023-05-01", end="2023-01-01"), sus_row(MAN, "X")]
    rows[1][9] = "lotto"
    outcome = ingest_submission(write_sus(register_inbox, rows), settings)
    codes = {p["code"] for p in problems_of(settings, outcome)}
    assert {"END_BEFORE_START", "VALUE_INVALID"} <= codes


def test_income_months_outside_the_stated_coverage(settings, register_inbox):
    outcome = ingest_income(settings, register_inbox, f"{WOMAN};2023-05;lon;21000", f"{WOMAN};2024-02;lon;21000",
                            f"{MAN};2023-06;sjukpenning;9000")
    problems = problems_of(settings, outcome)
    assert [p["code"] for p in problems] == ["MONTH_OUTSIDE_COVERAGE"]
    assert "rad 3" in problems[0]["message"]


def test_normalise_accepts_the_written_forms():
    assert normalise(format_number(CENTENARIAN, "10+")) == CENTENARIAN
    assert normalise(format_number(SAMORDNING, "10-")) == SAMORDNING
    assert normalise(MAN[:-1] + str((int(MAN[-1]) + 1) % 10)) is None


def test_a_malformed_line_is_reported_without_its_content(settings, register_inbox, caplog):
    path = register_inbox / "sus_deltagare_2024-06.csv"
    good = ";".join(sus_row(WOMAN, "K"))
    broken = ";".join(sus_row(MAN, "M")) + ';"unterminated;extra;columns'
    path.write_text(";".join(HEADER) + "\n" + good + "\n" + broken + "\n", encoding="utf-8")
    outcome = ingest_submission(path, settings)
    assert outcome.status == "rejected"
    written = (settings.quarantine / outcome.submission_id / "errors.json").read_text()
    written += (settings.ledger / f"{outcome.submission_id}.json").read_text() + caplog.text + outcome.summary()
    for pnr in (MAN, WOMAN):
        assert pnr not in written and pnr[2:] not in written


def test_income_amounts_and_months_must_be_whole_and_well_formed(settings, register_inbox):
    outcome = ingest_income(settings, register_inbox, f"{WOMAN};2023-05;lon;100.5", f"{WOMAN};2023-6;lon;21000",
                            f"{MAN};2023-06;sjukpenning;9000")
    problems = problems_of(settings, outcome)
    assert sorted(p["message"].split(" ")[0] + p["message"].split("kolumnen ")[1].split(",")[0]
                  for p in problems) == ["1belopp", "1manad"]


def test_an_amount_too_long_for_any_sum_is_a_value_named_by_row_and_column(settings, register_inbox):
    """Twenty digits used to fail landing (FILE_UNREADABLE, ConversionException); nine digits is the limit."""
    outcome = ingest_income(settings, register_inbox, f"{WOMAN};2023-05;lon;{'9' * 20}", f"{MAN};2023-06;lon;999999999",
                            f"{MAN};2023-07;lon;0000021000")
    [problem] = problems_of(settings, outcome)
    assert (problem["code"], problem["column"]) == ("VALUE_INVALID", "belopp")
    assert "1 rad(er)" in problem["message"] and "rad 2." in problem["message"]
    assert "högst 999 999 999" in problem["message"] and "9" * 10 not in problem["message"]


def test_a_month_that_does_not_exist_is_only_invalid_not_also_outside_the_coverage(settings, register_inbox):
    """docs/register_extracts.md §5: 2014-13 is VALUE_INVALID; only a real month is held against the name."""
    outcome = ingest_income(settings, register_inbox, f"{WOMAN};2014-13;lon;100", f"{WOMAN};2014-12;lon;100")
    assert [(p["code"], p["column"]) for p in problems_of(settings, outcome)] == [
        ("VALUE_INVALID", "manad"), ("MONTH_OUTSIDE_COVERAGE", None)]
    assert "rad 3." in problems_of(settings, outcome)[1]["message"]


def test_a_file_outside_the_register_inbox_is_left_where_it_is(settings, tmp_path):
    path = write_sus(tmp_path, [sus_row(WOMAN, "K")])
    assert ingest_submission(path, settings).status == "accepted"
    assert path.exists()


@pytest.mark.parametrize(("name", "ok"), [
    ("sus_deltagare_2024-06.csv", True), ("inkomster_2017-01_2024-06.parquet", True),
    ("sus_deltagare_2024-13.csv", False), ("sus_deltagare_2024-00_rattad.csv", False),
    ("inkomster_2024-01_2024-13.csv", False), ("inkomster_2024-07_2024-06.csv", False),
    ("sus_deltagare_2099-01.csv", False), ("inkomster_2030-01_2030-03.csv", False),
    ("sus_deltagare_1999-12.csv", False), ("sus_deltagare_2026-11.csv", True), ("sus_deltagare_2026-12.csv", False),
])
def test_register_file_names_describe_real_months_not_in_the_future(settings, name, ok):
    import dataclasses

    from ingest.register import check_months, parse_name

    as_of = dataclasses.replace(settings, as_of="2026-11-30")
    found = check_months(parse_name(name), name, as_of)
    assert (found is None) == ok, found
    if found:
        assert found.code == "REGISTER_PERIOD" and name in found.message


@pytest.mark.parametrize("column, value", [
    ("ar_offentlig_forsorjning_fore", "2.5"), ("ar_offentlig_forsorjning_fore", "3.0"),
    ("ar_offentlig_forsorjning_fore", "+3"), ("fodelsear", "1985.0"), ("fodelsear", " 1985"),
    ("startdatum", "2013-2-1"), ("startdatum", "2013-09-30 12:00:00"), ("slutdatum", "2013-09-30T00:00"),
    ("slutdatum", "20130930"),
])
def test_integers_years_and_dates_are_written_exactly_as_the_contract_allows(settings, register_inbox, column,
                                                                            value):
    rows = [sus_row(WOMAN, "K", start="2013-01-10", end="2013-12-31"),
            sus_row(MAN, "M", start="2013-01-10", end="2013-12-31")]
    rows[1][HEADER.index(column)] = value
    outcome = ingest_submission(write_sus(register_inbox, rows), settings)
    assert outcome.status == "rejected"
    problems = problems_of(settings, outcome)
    assert [(p["code"], p["column"]) for p in problems] == [("VALUE_INVALID", column)]
    assert "rad 3" in problems[0]["message"] and value.strip() not in problems[0]["message"]


def landed_rows(settings, outcome) -> list[int]:
    landed = settings.raw / "register" / outcome.submission_id / "participants.parquet"
    with duckdb.connect() as con:
        return [r for (r,) in con.execute(f"select source_row from '{landed}' order by source_row").fetchall()]


def test_an_exact_duplicate_is_left_out_with_a_warning_and_the_extract_is_accepted(settings, register_inbox):
    """docs/register_extracts.md §4: one copied row does not hold back the whole extract."""
    rows = [sus_row(WOMAN, "K"), sus_row(MAN, "M"), sus_row(WOMAN, "K"), sus_row("", "K", anonym="1"),
            sus_row("", "K", anonym="1")]
    outcome = ingest_submission(write_sus(register_inbox, rows), settings)
    assert outcome.status == "accepted" and outcome.rows_ok == 3 and outcome.warnings == 1
    assert landed_rows(settings, outcome) == [2, 3, 5], "every later copy is left out, the first is kept"
    manifest = json.loads((settings.raw / "register" / outcome.submission_id / "manifest.json").read_text())
    [warning] = manifest["warnings"]
    assert warning["code"] == "DUPLICATE_ROWS_REMOVED" and warning["severity"] == "varning"
    assert "2 rad(er)" in warning["message"] and "rad 4, 6" in warning["message"]
    assert manifest["rows"] == 3 and manifest["rows_total"] == 5
    line = outcome.summary()  # what the operator passes on to the agency
    assert line.startswith(f"accepted sus_deltagare_2024-06.csv (2024-06), submission {outcome.submission_id[:12]}: "
                           "3 rows, 1 warning(s), first: DUPLICATE_ROWS_REMOVED: 2 rad(er)")
    assert line.endswith(f"Details: lake/raw/register/{outcome.submission_id}/manifest.json")
    assert WOMAN not in line and WOMAN[2:] not in json.dumps(manifest)


def test_the_same_person_in_two_written_forms_is_a_duplicate(settings, register_inbox):
    """DUPLICATE_ROWS_REMOVED compares the normalised number: 10 and 12 digits of one person are one."""
    rows = [sus_row(format_number(MAN, "12-"), "M"), sus_row(format_number(MAN, "10"), "M"),
            sus_row(format_number(WOMAN, "10-"), "K")]
    outcome = ingest_submission(write_sus(register_inbox, rows), settings)
    assert outcome.status == "accepted" and outcome.record.first_problem.startswith("DUPLICATE_ROWS_REMOVED: 1 rad")
    assert landed_rows(settings, outcome) == [2, 4]


def test_an_extract_with_an_error_lists_its_duplicates_too(settings, register_inbox):
    rows = [sus_row(WOMAN, "K"), sus_row(WOMAN, "K"), sus_row(MAN, "X")]
    outcome = ingest_submission(write_sus(register_inbox, rows), settings)
    assert outcome.status == "rejected" and outcome.errors == 1 and outcome.warnings == 1
    assert [(p["code"], p["severity"]) for p in problems_of(settings, outcome)] == [
        ("VALUE_INVALID", "fel"), ("DUPLICATE_ROWS_REMOVED", "varning")]


def test_a_twelve_digit_number_with_a_plus_keeps_its_written_century(settings, register_inbox):
    """docs/register_extracts.md §6: for 12 digits the explicit century wins whatever the separator,
    so fodelsear is not held against it (as for a '-')."""
    plus = format_number(MAN, "12-").replace("-", "+")
    agreeing = sus_row(plus, "M")
    disagreeing = sus_row(plus, "M", start="2023-02-01")
    disagreeing[HEADER.index("fodelsear")] = "1986"
    outcome = ingest_submission(write_sus(register_inbox, [agreeing, disagreeing]), settings)
    assert outcome.status == "accepted", outcome.summary()
    same = ingest_submission(write_sus(register_inbox, [sus_row(format_number(MAN, "12-"), "M")],
                                       name="sus_deltagare_2024-05.csv"), settings)
    keys = {tuple(duckdb.sql(f"select distinct person_key from '{settings.raw}/register/{o.submission_id}/"
                             "participants.parquet'").fetchall()) for o in (outcome, same)}
    assert len(keys) == 1, "read as born in 1985, the same person as with '-'"


def test_a_plus_that_contradicts_the_birth_year_is_rejected(settings, register_inbox):
    born_1985 = format_number(MAN, "10+")  # 850314+NNNK reads as 1885, but fodelsear says 1985
    row = sus_row(MAN, "M")
    row[0] = born_1985
    centenarian = sus_row(format_number(CENTENARIAN, "10+"), "K")  # 1921: + is right, and agrees
    outcome = ingest_submission(write_sus(register_inbox, [centenarian, row]), settings)
    problems = problems_of(settings, outcome)
    assert [p["code"] for p in problems] == ["PNR_BIRTH_YEAR"]
    assert "rad 3" in problems[0]["message"] and born_1985 not in json.dumps(problems)
