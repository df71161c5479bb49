"""The feedback page a coordinator sends back to a federation for a rejected file."""

from __future__ import annotations

import html
import json
import re

from core.ledger import all_records
from feedback.page import mark_superseded
from operations.steps import ingest_with_feedback
from tests.conftest import sample_content


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
        assert problem["message"] in text and problem["action"] in text
        assert problem["code"] not in text  # internal codes are for operators, not federations
    assert "Bladet Deltagare, rad 3, kolumn F (D01)" in text and "Bladet Deltagare, rad 5, kolumn G (D02)" in text
    # Who to contact, the last day, and the template for the period next to the page.
    assert settings.coordinator_contact in text and "Sista dag att skicka in" in text
    assert (page.parent / "mall_SF07_2025-26.xlsx").exists() and 'href="mall_SF07_2025-26.xlsx"' in page.read_text()
    assert not re.search(r"\bdu\b", text, re.I)
    # Where to check the corrected file before sending it (the check page, nns check).
    assert "Kontrollera filen innan ni skickar den" in text and "nns check" in text
    # How many rows were fine: nine questionnaires (six deltagare, three styrelse), two broken.
    assert f"Av filens {errors['rows_total']} enkätrader var {errors['rows_ok']} utan fel" in text
    assert errors["rows_total"] - errors["rows_ok"] == 2


def test_a_page_says_it_no_longer_applies_once_a_corrected_file_is_accepted(settings, write_submission):
    """Nobody forwards a stale page: accepting a corrected file marks the pages of the files it replaces."""
    rejected = ingest_with_feedback(write_submission("SF07_2025-26.xlsx", edit=_break_two_rows), settings)
    other = ingest_with_feedback(write_submission("SF07_2024-25.xlsx", content=sample_content("SF07", "2024/25"),
                                                  edit=_break_two_rows), settings)
    assert rejected.status == other.status == "rejected"
    pages = {p.name: p for p in (settings.feedback / "SF07").glob("*.html")}
    before = {name: page.read_text(encoding="utf-8") for name, page in pages.items()}
    assert not any("gäller inte längre" in text for text in before.values())

    corrected = write_submission("SF07_2025-26.xlsx", content=sample_content("SF07", "2025/26", n=7))
    assert ingest_with_feedback(corrected, settings).status == "accepted"
    after = {name: page.read_text(encoding="utf-8") for name, page in pages.items()}
    [changed] = [name for name in pages if after[name] != before[name]]
    assert changed.startswith("SF07_2025-26_återkoppling_" + rejected.submission_id[:8])
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", after[changed])))
    assert "Den här sidan gäller inte längre" in text and "SF07_2025-26.xlsx togs emot" in text
    assert "<title>Ersatt: Återkoppling" in after[changed]
    # Another period's page is left as it was, and a rerun writes the same page.
    accepted = next(r for r in all_records(settings) if r.accepted)
    mark_superseded(settings, accepted)
    assert pages[changed].read_text(encoding="utf-8") == after[changed]


def test_an_accepted_file_gets_no_feedback_page(settings, write_submission):
    assert ingest_with_feedback(write_submission("SF07_2025-26.xlsx"), settings).status == "accepted"
    assert not settings.feedback.exists()


def test_a_badly_named_file_is_told_to_use_the_pattern(settings, write_submission):
    outcome = ingest_with_feedback(write_submission("SF07-2025-26-slutlig.xlsx"), settings)
    assert outcome.status == "rejected"
    [page] = settings.feedback.rglob("*.html")
    text = page.read_text(encoding="utf-8")
    assert "FILE_NAME" not in text and "FÖRBUNDSKOD_ÅÅÅÅ-ÅÅ.xlsx" in text
    assert "Spara filen med samma namn" not in text


def test_a_revised_question_is_one_message(catalogue):
    """The bad-input corpus's gammal-fragekod-P08 file gives these two problems; the page shows one."""
    from feedback.page import _revisions
    from ingest.problems import problem

    found = [problem("COLUMN_UNKNOWN", sheet="Personal", row=1, column="J (P08)", period="2025/26").to_dict(),
             problem("COLUMN_MISSING", sheet="Personal", column="P08R").to_dict(),
             problem("DATE_MISSING", sheet="Personal", row=4, column="B (Datum)").to_dict()]
    shown = _revisions(found, catalogue, "2025/26")
    assert [p["code"] for p in shown] == ["COLUMN_UNKNOWN", "DATE_MISSING"]
    assert shown[0]["message"].startswith("Frågan P08 ersattes av P08R från 2022/23.")
    assert "Byt rubriken P08 mot P08R" in shown[0]["action"]


def test_a_csv_file_is_named_by_file_and_line(settings, write_submission):
    from feedback.page import _where

    problem = {"sheet": "Styrelse", "row": 3, "column": "S (S02)"}
    assert _where(problem, "SF41_2025-26_Styrelse.csv", True) == "Filen SF41_2025-26_Styrelse.csv, rad 3, kolumnen S02"
    assert _where(problem, "SF41_2025-26.xlsx", False) == "Bladet Styrelse, rad 3, kolumn S (S02)"


def test_the_federation_comes_from_a_valid_file_name(catalogue):
    from feedback.page import _plain, federation_of

    assert federation_of({"file_name": "SF07_2025-26.ods"}, catalogue) == "SF07"
    assert federation_of({"file_name": "SF98_2025-26.ods"}, catalogue) is None
    assert federation_of({"file_name": "SF98_2025-26.xlsx", "federation_code": "SF98"}, catalogue) is None
    assert _plain("ett blad kunde inte läsas (BadZipFile) (KeyError)") == "ett blad kunde inte läsas"
    assert _plain("Annars behöver du inte göra något.") == "Annars behöver ni inte göra något."


def test_the_page_links_the_check_page_when_its_address_is_set(settings, write_submission):
    import dataclasses

    from feedback.page import write_feedback

    path = write_submission("SF07_2025-26.xlsx", edit=_break_two_rows)
    outcome = ingest_with_feedback(path, settings)
    page = write_feedback(dataclasses.replace(settings, check_url="https://kontroll.example.se/"),
                          outcome.submission_id)
    assert '<a href="https://kontroll.example.se/">' in page.read_text(encoding="utf-8")
