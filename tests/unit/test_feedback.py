"""The feedback page a coordinator sends back to a federation for a rejected file."""

from __future__ import annotations

import html
import json
import re

from operations.steps import ingest_with_feedback


def _break_two_rows(workbook):
    sheet = workbook["Deltagare"]
    headers = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=headers.index("D01") + 1, value=7)
    sheet.cell(row=5, column=headers.index("D02") + 1, value="jättebra")


def test_a_rejected_file_gets_a_swedish_page_with_every_problem(settings, write_submission):
    path = write_submission("SF07_2025-26.xlsx", edit=_break_two_rows)
    outcome = ingest_with_feedback(path, settings)
    assert outcome.status == "rejected"

    [page] = (settings.feedback / "SF07").glob("*.html")
    assert page.name.startswith("SF07_2025-26_återkoppling_")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))
    text = re.sub(r"\s+", " ", text)
    errors = json.loads((settings.quarantine / outcome.submission_id / "errors.json").read_text())
    assert "SF07_2025-26.xlsx" in text and "Mätperiod 2025/26" in text
    assert "Vi kunde inte ta emot filen" in text
    # Every problem, with where it is and what to do.
    for problem in errors["problems"]:
        assert problem["message"] in text and problem["action"] in text and problem["code"] in text
    assert "Blad Deltagare rad 3 kolumn F (D01)" in text and "Blad Deltagare rad 5 kolumn G (D02)" in text
    # How many rows were fine: nine questionnaires (six deltagare, three styrelse), two broken.
    assert f"Av filens {errors['rows_total']} enkätrader var {errors['rows_ok']} utan fel" in text
    assert errors["rows_total"] - errors["rows_ok"] == 2


def test_an_accepted_file_gets_no_feedback_page(settings, write_submission):
    assert ingest_with_feedback(write_submission("SF07_2025-26.xlsx"), settings).status == "accepted"
    assert not settings.feedback.exists()


def test_a_badly_named_file_is_told_to_use_the_pattern(settings, write_submission):
    outcome = ingest_with_feedback(write_submission("SF07-2025-26-slutlig.xlsx"), settings)
    assert outcome.status == "rejected"
    [page] = settings.feedback.rglob("*.html")
    text = page.read_text(encoding="utf-8")
    assert "FILE_NAME" in text and "FÖRBUNDSKOD_ÅÅÅÅ-ÅÅ.xlsx" in text
    assert "Spara filen med samma namn" not in text
