"""The submission contract: every kind of bad input is rejected with every
problem listed (code, sheet, row, column, a Swedish message), and valid
variations are accepted."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from ingest.submission import ingest_submission
from tests.conftest import sample_content


def problems(settings, outcome) -> list[dict]:
    errors = settings.quarantine / outcome.submission_id / "errors.json"
    return json.loads(errors.read_text(encoding="utf-8"))["problems"]


def codes(settings, outcome) -> set[str]:
    return {p["code"] for p in problems(settings, outcome) if p["severity"] == "fel"}


def test_valid_workbook_is_accepted(settings, write_submission):
    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx"), settings)
    assert outcome.status == "accepted", outcome.summary()
    assert outcome.rows_ok == 9 and outcome.errors == 0
    landed = settings.raw / "survey" / outcome.submission_id
    assert {p.name for p in landed.iterdir()} == {"respondents.parquet", "answers.parquet",
                                                   "collection.parquet", "manifest.json"}
    manifest = json.loads((landed / "manifest.json").read_text())
    assert manifest["tables"]["respondents"]["rows"] == 9
    assert manifest["respondent_groups"] == ["deltagare", "styrelse"]


def test_not_a_workbook(settings):
    path = settings.inbox / "SF07_2025-26.xlsx"
    path.write_bytes(b"this is not a zip file at all")
    outcome = ingest_submission(path, settings)
    assert outcome.status == "rejected"
    assert codes(settings, outcome) == {"FILE_UNREADABLE"}


def test_unknown_file_type_and_bad_name(settings):
    pdf = settings.inbox / "SF07_2025-26.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    assert codes(settings, ingest_submission(pdf, settings)) == {"FILE_TYPE"}
    odd = settings.inbox / "enkater_SF07.xlsx"
    odd.write_bytes(b"x")
    assert "FILE_NAME" in codes(settings, ingest_submission(odd, settings))


def test_missing_sheet_and_renamed_sheet(settings, write_submission):
    def edit(wb):
        del wb["Insamling"]
        wb["Deltagare"].title = "Deltagarenkät"

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=edit), settings)
    found = problems(settings, outcome)
    assert {"SHEET_MISSING", "SHEET_UNKNOWN"} <= {p["code"] for p in found}
    unknown = next(p for p in found if p["code"] == "SHEET_UNKNOWN")
    assert unknown["sheet"] == "Deltagarenkät" and "Deltagare" in unknown["action"]


def test_missing_column_and_unknown_question(settings, write_submission):
    def edit(wb):
        ws = wb["Deltagare"]
        ws.delete_cols(6)  # D01
        ws.cell(row=1, column=ws.max_column + 1, value="X99")
        ws.cell(row=2, column=ws.max_column, value=3)

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=edit), settings)
    found = {p["code"]: p for p in problems(settings, outcome)}
    assert found["COLUMN_MISSING"]["column"] == "D01"
    assert found["COLUMN_UNKNOWN"]["sheet"] == "Deltagare" and "X99" in found["COLUMN_UNKNOWN"]["column"]


def test_every_cell_problem_is_listed_with_its_position(settings, write_submission):
    def edit(wb):
        ws = wb["Deltagare"]  # columns: A Löpnummer, B Datum, C Kön, D Åldersgrupp, E Insats, F D01 ...
        ws["F2"] = 7  # out of range
        ws["G3"] = 0  # out of range
        ws["H4"] = "ganska ofta"  # text that is no answer label
        ws["A5"] = 1  # duplicate of row 2
        ws["B6"] = datetime(2024, 1, 1)  # before the period
        ws["C7"] = "Okänd"  # not a kön code

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=edit), settings)
    found = {(p["code"], p["row"], p["column"][0]) for p in problems(settings, outcome)}
    assert found >= {
        ("ANSWER_OUT_OF_RANGE", 2, "F"),
        ("ANSWER_OUT_OF_RANGE", 3, "G"),
        ("ANSWER_INVALID", 4, "H"),
        ("SERIAL_DUPLICATE", 5, "A"),
        ("DATE_OUTSIDE_PERIOD", 6, "B"),
        ("CODE_INVALID", 7, "C"),
    }
    assert outcome.errors == 6
    # Feedback can count what was fine: 9 rows, 6 of them with an error.
    assert outcome.rows_ok == 3
    for p in problems(settings, outcome):
        assert p["message"] and p["action"] and p["sheet"] == "Deltagare"


def test_federation_checks(settings, write_submission, catalogue):
    mismatch = ingest_submission(write_submission("SF08_2025-26.xlsx"), settings)  # Metadata says SF07
    assert "FEDERATION_MISMATCH" in codes(settings, mismatch)
    unknown = ingest_submission(write_submission("SF99_2025-26.xlsx", content=sample_content("SF99")), settings)
    assert "FEDERATION_UNKNOWN" in codes(settings, unknown)
    # SF19 merged into SF23 in 2020: it cannot submit for 2025/26.
    merged = ingest_submission(write_submission("SF19_2025-26.xlsx", content=sample_content("SF19")), settings)
    assert "FEDERATION_INACTIVE" in codes(settings, merged)


def test_rows_without_errors_count_only_questionnaire_rows(settings, write_submission):
    # Metadata's row 2 names another federation: the 9 questionnaire rows themselves are fine.
    only_metadata = ingest_submission(write_submission("SF08_2025-26.xlsx"), settings)
    assert "FEDERATION_MISMATCH" in codes(settings, only_metadata)
    assert (only_metadata.record.rows_total, only_metadata.record.rows_ok) == (9, 9)
    # Metadata's rows 2 and 3 are wrong and every answer date lies outside the named period: all 8
    # questionnaire rows need correcting, never more than the file has.
    outcome = ingest_submission(write_submission("SF08_2024-25.xlsx", content=sample_content(n=5)), settings)
    assert {"FEDERATION_MISMATCH", "PERIOD_MISMATCH"} <= codes(settings, outcome)
    assert (outcome.record.rows_total, outcome.record.rows_ok) == (8, 0)


def test_period_mismatch_between_name_and_metadata(settings, write_submission):
    outcome = ingest_submission(write_submission("SF07_2024-25.xlsx"), settings)
    assert "PERIOD_MISMATCH" in codes(settings, outcome)


def test_group_not_open_in_period(settings, write_submission):
    content = sample_content(period="2019/20")
    for r in content.respondents["deltagare"]:
        r.answers = {k: v for k, v in r.answers.items() if k not in {"D04B", "D04C", "D16"}}
    for r in content.respondents["styrelse"]:
        r.answers.pop("S16")

    def edit(wb):  # a co-referrer sheet before the group existed (from 2021/22)
        ws = wb.create_sheet("Medremittent")
        ws.append(["Löpnummer", "Datum", "Kön", "M01"])
        ws.append([1, datetime(2020, 1, 10), "Man", 4])

    outcome = ingest_submission(write_submission("SF07_2019-20.xlsx", content=content, edit=edit), settings)
    assert codes(settings, outcome) == {"GROUP_NOT_OPEN"}


def test_empty_workbook(settings, write_submission):
    from ingest.template import SubmissionContent

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", content=SubmissionContent("SF07", "2025/26")),
                          settings)
    assert codes(settings, outcome) == {"NO_DATA"}


def test_collection_counts_checked(settings, write_submission):
    def edit(wb):
        ws = wb["Insamling"]
        ws["B2"], ws["C2"] = 3, 6  # answered more than asked
        ws["B4"] = "många"

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=edit), settings)
    assert {"COUNT_INCONSISTENT", "COUNT_INVALID"} <= codes(settings, outcome)


def test_labels_in_mixed_case_and_stray_spaces_are_valid(settings, write_submission):
    def edit(wb):
        ws = wb["Deltagare"]
        ws["F2"] = "  för DET mesta "
        ws["G2"] = "VET EJ"
        ws["C2"] = " kvinna"
        ws["F3"] = "5"  # a number typed as text
        ws["F4"] = 4.0

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=edit), settings)
    assert outcome.status == "accepted", outcome.summary()


def test_warnings_do_not_block(settings, write_submission):
    def edit(wb):
        wb["Insamling"]["C2"] = 5  # says 5 answered, the sheet has 6 rows

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=edit), settings)
    assert outcome.status == "accepted" and outcome.warnings == 1


def test_too_many_rows(settings, write_submission, monkeypatch):
    monkeypatch.setenv("NNS_MAX_ROWS_PER_SHEET", "5")
    from core.settings import get_settings

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx"), get_settings())
    assert codes(settings, outcome) == {"TOO_MANY_ROWS"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [";", ","])
def test_csv_in_each_encoding_reads_the_same(settings, encoding, delimiter):
    header = ["Löpnummer", "Datum", "Kön", "Åldersgrupp", "Insats",
              "D01", "D02", "D03", "D04", "D04B", "D04C", "D05", "D16"]
    rows = [[1, "2026-02-03", "Kvinna", "55-", "STEG1", 4, 5, "För det mesta", 6, "", "Vet ej", 2, 3],
            [2, "2026-02-04", "Annat eller vill ej uppge", "-24", "ÅTERSTART", 1, 2, 3, 4, 5, 6, 1, 2]]
    text = "\r\n".join(delimiter.join(str(c) for c in row) for row in [header] + rows) + "\r\n"
    path = settings.inbox / "SF07_2025-26_Deltagare.csv"
    path.write_bytes(text.encode(encoding))
    outcome = ingest_submission(path, settings)
    assert outcome.status == "accepted", outcome.summary()
    import pyarrow.parquet as pq

    table = pq.read_table(settings.raw / "survey" / outcome.submission_id / "respondents.parquet")
    assert table.column("insats").to_pylist() == ["STEG1", "ÅTERSTART"]
    assert table.column("gender").to_pylist() == ["K", "A"]
    assert table.column("answered_on").to_pylist() == [date(2026, 2, 3), date(2026, 2, 4)]


def test_csv_file_must_name_its_sheet(settings):
    path = settings.inbox / "SF07_2025-26_enkat.csv"
    path.write_text("Löpnummer;Datum\n", encoding="utf-8")
    assert codes(settings, ingest_submission(path, settings)) == {"FILE_NAME"}


def test_an_empty_extra_sheet_is_ignored_but_one_with_content_is_not(settings, write_submission):
    path = write_submission("SF07_2025-26.xlsx", edit=lambda wb: wb.create_sheet("Blad1"))
    accepted = ingest_submission(path, settings)
    assert accepted.status == "accepted", accepted.summary()

    def notes(wb):
        wb.create_sheet("Anteckningar")["A1"] = "egna anteckningar"

    rejected = ingest_submission(write_submission("SF07_2025-26_v2.xlsx", edit=notes), settings)
    assert codes(settings, rejected) == {"SHEET_UNKNOWN"}
