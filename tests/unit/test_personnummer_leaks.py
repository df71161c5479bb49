"""A personnummer where none belongs (a survey cell, a register column) rejects the file, one in a file
name has the file refused and left in the inbox, and nothing ingest writes or shows quotes it: not
errors.json, the ledger, the feedback page, the log line, the quarantine's file names, an Airflow
task's argument or `nns status`.

The numbers are built here from a date, a serial and a computed check digit.
"""

from __future__ import annotations

import csv
import json
import logging

import pytest

from core import ledger
from ingest.inbox import RefusedFile
from ingest.personnummer import FORMS, format_number, luhn_digit
from operations import cli
from operations.steps import ingest_with_feedback
from tests.conftest import sample_content
from tests.unit.test_register import HEADER, MAN, WOMAN, sus_row

IN_WINDOW = "2026-11-20"


def number(birth: str, serial: str) -> str:
    return birth + serial + str(luhn_digit(birth[2:] + serial))


SECRET = number("19790521", "337")  # the number that must not leak
COORDINATION = number("19880372", "154")  # a samordningsnummer (day 12 + 60)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def assert_not_quoted(numbers, *texts: str) -> None:
    """Neither any written form nor the ten digits (however spaced) of any number is in the texts."""
    for text in texts:
        for canonical in numbers:
            assert not [form for form in FORMS if format_number(canonical, form) in text], text[:300]
            assert canonical[2:] not in _digits(text), text[:300]


def written_by_ingest(settings) -> list[str]:
    """Every file name under the data home (but the inbox and the archive of originals) and every
    JSON/HTML text there."""
    texts = []
    for path in settings.home.rglob("*"):
        relative = path.relative_to(settings.home)
        if relative.parts[0] == "inbox" or relative.parts[:2] == ("lake", "archive"):
            continue
        texts.append(str(relative))
        if path.is_file() and path.suffix in (".json", ".html"):
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def status_texts(capsys) -> list[str]:
    cli.main(["status", "--date", IN_WINDOW])
    text = capsys.readouterr().out
    cli.main(["status", "--json", "--date", IN_WINDOW])
    return [text, capsys.readouterr().out]


def problems_of(settings, outcome) -> list[dict]:
    return json.loads((settings.quarantine / outcome.submission_id / "errors.json").read_text())["problems"]


def test_a_personnummer_in_a_serial_and_an_insats_rejects_the_workbook(settings, write_submission, capsys, caplog):
    content = sample_content()
    content.respondents["deltagare"][1].serial = format_number(SECRET, "12-")  # row 3
    content.respondents["deltagare"][3].insats = f"Kurs {format_number(COORDINATION, '10')} vt"  # row 5
    content.respondents["styrelse"][0].serial = int(SECRET)  # row 2, typed as a number
    caplog.set_level(logging.INFO)
    outcome = ingest_with_feedback(write_submission("SF07_2025-26.xlsx", content=content), settings)

    assert outcome.status == "rejected"
    found = [p for p in problems_of(settings, outcome) if p["code"] == "PERSONAL_NUMBER_IN_TEXT"]
    assert {(p["sheet"], p["row"], p["column"]) for p in found} == {
        ("Deltagare", 3, "A (Löpnummer)"), ("Deltagare", 5, "E (Insats)"), ("Styrelse", 2, "A (Löpnummer)")}
    assert "Cellen A3 på bladet Deltagare" in found[0]["message"]
    assert not (settings.raw / "survey" / outcome.submission_id).exists()
    assert_not_quoted([SECRET, COORDINATION], outcome.summary(), caplog.text, *written_by_ingest(settings),
                      *status_texts(capsys))


def test_a_personnummer_in_a_csv_names_the_file_and_line(settings, catalogue, capsys):
    from ingest.template import group_columns, respondent_cells

    content = sample_content()
    group = next(g for g in catalogue.groups if g.code == "deltagare")
    rows = [group_columns(group, catalogue, content.period)]
    rows += [respondent_cells(r, group, catalogue, content.period) for r in content.respondents["deltagare"]]
    rows[2][0] = format_number(SECRET, "10-")
    rows[4][rows[0].index("Insats")] = format_number(SECRET, "12")
    path = settings.inbox / "SF07_2025-26_Deltagare.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=";").writerows(rows)
    outcome = ingest_with_feedback(path, settings)

    assert outcome.status == "rejected"
    found = [p for p in problems_of(settings, outcome) if p["code"] == "PERSONAL_NUMBER_IN_TEXT"]
    assert [(p["row"], p["column"]) for p in found] == [(3, "A (Löpnummer)"), (5, "E (Insats)")]
    assert found[0]["message"].startswith("Rad 3, kolumn Löpnummer, i filen SF07_2025-26_Deltagare.csv")
    assert_not_quoted([SECRET], outcome.summary(), *written_by_ingest(settings), *status_texts(capsys))


def test_an_invalid_check_digit_is_an_ordinary_serial_but_never_quoted(settings, write_submission):
    wrong = SECRET[:-1] + str((int(SECRET[-1]) + 1) % 10)
    content = sample_content()
    content.respondents["deltagare"][0].serial = wrong
    content.respondents["deltagare"][1].serial = wrong  # a duplicate: its message would quote it
    outcome = ingest_with_feedback(write_submission("SF07_2025-26.xlsx", content=content), settings)
    assert [p["code"] for p in problems_of(settings, outcome)] == ["SERIAL_DUPLICATE"]
    assert_not_quoted([SECRET], *written_by_ingest(settings))
    assert wrong[2:] not in _digits("".join(written_by_ingest(settings)))


def test_a_personnummer_in_a_sus_insats_rejects_the_extract(settings, capsys, caplog):
    folder = settings.inbox / "register"
    folder.mkdir(parents=True)
    rows = [sus_row(format_number(MAN, "12-"), "M"), sus_row(format_number(WOMAN, "10-"), "K"),
            sus_row(format_number(MAN, "12-"), "M")]
    rows[1][HEADER.index("insats")] = format_number(SECRET, "12-")  # line 3
    rows[2][HEADER.index("insats")] = f"Kurs {format_number(COORDINATION, '10+')} vt"  # line 4
    path = folder / "sus_deltagare_2024-06.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=";").writerows([HEADER, *rows])
    caplog.set_level(logging.INFO)
    outcome = ingest_with_feedback(path, settings)

    assert outcome.status == "rejected"
    [found] = problems_of(settings, outcome)
    assert found["code"] == "PERSONAL_NUMBER_IN_TEXT"
    assert found["message"].startswith("Kolumnen insats (2 rad(er), t.ex. rad 3, 4) innehåller")
    assert path.exists() and not (settings.raw / "register" / outcome.submission_id).exists()
    assert_not_quoted([SECRET, COORDINATION], outcome.summary(), caplog.text, *written_by_ingest(settings),
                      *status_texts(capsys))


@pytest.mark.parametrize("source", ["survey", "register"])
def test_a_file_named_with_a_personnummer_is_refused_while_listing(settings, write_submission, capsys, caplog,
                                                                   source):
    """Refused before listing, so the name never becomes an Airflow task's argument (XCom); refused
    by hand too; left where it is; and nothing written, logged or shown quotes the number."""
    from operations.orchestration import tasks

    if source == "survey":
        path = write_submission(f"SF07_2025-26_{format_number(SECRET, '12-')}.xlsx")
        stored = "SF07_2025-26_[personnummer borttaget].xlsx"
    else:
        (settings.inbox / "register").mkdir()
        path = settings.inbox / "register" / f"sus_deltagare_2024-06_{format_number(SECRET, '10')}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f, delimiter=";").writerows([HEADER, sus_row(format_number(MAN, "12-"), "M")])
        stored = "sus_deltagare_2024-06_[personnummer borttaget].csv"
    caplog.set_level(logging.INFO)

    assert tasks.new_survey_files({}) == [] and tasks.new_register_files({}) == [], "what the DAGs map over"
    assert "PERSONAL_NUMBER_IN_NAME: Filnamnet innehåller ett personnummer" in caplog.text and stored in caplog.text
    with pytest.raises(RefusedFile) as refused:
        ingest_with_feedback(path, settings)  # given by hand (nns ingest PATH)
    assert refused.value.code == "PERSONAL_NUMBER_IN_NAME" and refused.value.name == stored
    assert path.exists() and ledger.all_records(settings) == [], "left where it is, never in the ledger"
    assert_not_quoted([SECRET], str(refused.value), caplog.text, *written_by_ingest(settings), *status_texts(capsys))

