"""`nns template` writes the workbook a federation fills in."""

from __future__ import annotations

import openpyxl

from ingest.submission import ingest_submission
from operations.cli import main


def test_template_has_every_sheet_column_and_drop_down(settings, tmp_path, catalogue):
    assert main(["template", "--period", "2025/26", "--federation", "sf07", "--out", str(tmp_path)]) == 0
    path = tmp_path / "SF07_2025-26.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Anvisningar", "Frågor", "Metadata", "Insamling", "Koder", "Deltagare",
                             "Personal", "Styrelse", "Chefsgrupp", "Medremittent"]
    deltagare = wb["Deltagare"]
    header = [c.value for c in deltagare[1]]
    assert header[:5] == ["Löpnummer", "Datum", "Kön", "Åldersgrupp", "Insats"]
    assert set(header[5:]) == {q.code for q in catalogue.questions_for("deltagare", "2025/26")}
    validated = {str(dv.sqref).split(":")[0].rstrip("0123456789") for dv in deltagare.data_validations.dataValidation}
    # Every coded column carries validation: date, kön, åldersgrupp and every question.
    assert validated == {openpyxl.utils.get_column_letter(i) for i in range(2, len(header) + 1)} - {"E"}
    assert wb["Metadata"]["B2"].value == "SF07" and wb["Metadata"]["B3"].value == "2025/26"


def test_the_template_filled_in_by_hand_is_accepted(settings, tmp_path):
    main(["template", "--period", "2025/26", "--federation", "SF07", "--out", str(tmp_path)])
    wb = openpyxl.load_workbook(tmp_path / "SF07_2025-26.xlsx")
    ws = wb["Styrelse"]
    ws.append([1, "2026-03-02", "Man", 4, 5, 6, 5, "Vet ej"])
    ws.append([2, "2026-03-02", "Kvinna", 3, 4, 2, 1, 6])
    wb["Insamling"]["B4"], wb["Insamling"]["C4"] = 7, 2  # Styrelse is the third group
    path = settings.inbox / "SF07_2025-26.xlsx"
    wb.save(path)
    outcome = ingest_submission(path, settings)
    assert outcome.status == "accepted", outcome.summary()
    assert outcome.rows_ok == 2 and outcome.warnings == 0


def test_template_refuses_a_federation_not_taking_part(tmp_path, settings):
    assert main(["template", "--period", "2025/26", "--federation", "SF19", "--out", str(tmp_path)]) == 2
