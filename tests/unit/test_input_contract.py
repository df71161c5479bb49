"""The input contract exactly as docs/submission_format.md writes it (issue #30): what `nns ingest`
says of each file, every problem of a file at once, and the rules the docs used to leave open."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from core import ledger
from ingest import reader
from ingest.reader import SheetExtent, UnreadableFile, read_xlsx
from ingest.submission import ingest_submission
from operations import cli
from tests.conftest import sample_content

LONG_NAME = "SF07_2025-26_" + "x" * (240 - len("SF07_2025-26_") - len(".xlsx")) + ".xlsx"


def seven(wb):
    wb["Deltagare"]["F2"] = 7  # an answer outside the scale


def ingest_lines(capsys, *args) -> tuple[int, list[str]]:
    code = cli.main(["ingest", *args])
    return code, capsys.readouterr().out.splitlines()


# --- what `nns ingest` prints (§8.1, §8.2, §9.3) --------------------------------------------------

def test_a_file_with_a_240_character_name_gets_its_line_and_every_problem(settings, write_submission, capsys):
    assert len(LONG_NAME) == 240
    write_submission(LONG_NAME, edit=seven)
    code, lines = ingest_lines(capsys)
    assert code == 1
    [line] = [line for line in lines if LONG_NAME in line]  # the whole name, so that it can be found
    assert line.startswith(f"REJECTED {LONG_NAME} (SF07 2025/26), submission ") and "2 error(s)" in line
    [record] = ledger.all_records(settings)
    problems = json.loads((settings.home / record.quarantine_path / "errors.json").read_text())["problems"]
    assert [(p["code"], p["row"], p["column"]) for p in problems] == [
        ("FILE_NAME_UNSAFE", None, None), ("ANSWER_OUT_OF_RANGE", 2, "F (D01)")]
    assert not record.rejected_for_name, "the content is wrong too: the same bytes renamed are still rejected"
    assert len(record.file_name) <= 120, "what is kept on disk is shortened"


def test_a_long_name_over_a_valid_file_is_rejected_for_the_name_alone(settings, write_submission):
    outcome = ingest_submission(write_submission(LONG_NAME), settings)
    assert outcome.status == "rejected" and outcome.record.rejected_for_name
    assert outcome.record.first_problem.startswith("FILE_NAME_UNSAFE") and outcome.errors == 1


def test_a_name_that_cannot_be_read_is_only_that_problem(settings, write_submission):
    """A line break after .xlsx leaves no pattern to read the content by: the name's problem alone."""
    path = write_submission("SF07_2025-26.xlsx", edit=seven)
    outcome = ingest_submission(path.rename(path.with_name(path.name + "\n")), settings)
    assert outcome.record.first_problem.startswith("FILE_NAME_UNSAFE") and outcome.errors == 1


def test_a_copy_in_a_later_run_says_already_ingested(settings, write_submission, capsys):
    path = write_submission("SF07_2025-26.xlsx")
    data = path.read_bytes()
    code, lines = ingest_lines(capsys)
    assert code == 0 and lines[0].endswith("9 questionnaire rows, 0 warning(s)")
    submission = lines[0].split("submission ")[1][:12]
    (settings.inbox / "SF07_2025-26_kopia.xlsx").write_bytes(data)  # the same bytes, a later night
    code, lines = ingest_lines(capsys)
    assert code == 0
    assert lines == [f"already ingested SF07_2025-26_kopia.xlsx (SF07 2025/26), submission {submission}: "
                     "nothing to do"]
    assert not any(settings.inbox.glob("*.xlsx")), "the copy has left the inbox"
    code, lines = ingest_lines(capsys)
    assert (code, lines) == (0, [f"Nothing new in {settings.inbox}"])


def test_a_copy_of_a_rejected_file_stays_rejected(settings, write_submission, capsys):
    data = write_submission("SF07_2025-26.xlsx", edit=seven).read_bytes()
    assert ingest_lines(capsys)[0] == 1
    (settings.inbox / "SF07_2025-26_igen.xlsx").write_bytes(data)
    code, [line] = ingest_lines(capsys)
    assert code == 1 and line.startswith("REJECTED SF07_2025-26_igen.xlsx (SF07 2025/26), submission ")
    assert ": already ingested, 1 error(s), first: ANSWER_OUT_OF_RANGE" in line


def test_the_lines_say_questionnaire_rows_for_surveys_and_the_first_warning(settings, write_submission):
    def five_answered(wb):
        wb["Insamling"]["C2"] = 5  # the Deltagare sheet has 6 rows: a warning

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=five_answered), settings)
    assert outcome.summary() == (
        f"accepted SF07_2025-26.xlsx (SF07 2025/26), submission {outcome.submission_id[:12]}: 9 questionnaire rows, "
        f"1 warning(s), first: {outcome.first_problem} Details: lake/raw/survey/{outcome.submission_id}/manifest.json")
    assert outcome.first_problem.startswith("COLLECTION_ROWS_DIFFER")


def test_the_worked_example_prints_what_the_docs_show(settings, tmp_path, capsys):
    """docs/submission_format.md §9.1–9.3, byte for byte: the same ids and the same lines."""
    from core.settings import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "submission_format.md").read_text(encoding="utf-8")
    names = ("SF07_2025-26_Styrelse.csv", "SF07_2025-26_Insamling.csv")
    for name in names:
        block = docs.split(f"### 9.{names.index(name) + 1} `{name}`", 1)[1].split("```csv\n", 1)[1].split("```")[0]
        (tmp_path / name).write_text(block, encoding="utf-8")
    expected = docs.split("CRLF line endings give different ids:\n\n```\n", 1)[1].split("```")[0].splitlines()
    printed = []
    for name in names:
        code, lines = ingest_lines(capsys, str(tmp_path / name))
        printed += lines
        assert code == 0
    assert printed == expected


# --- bounded by what a workbook holds, not by what it declares (§3.1.1) ----------------------------

def rewrite_sheets(data: bytes, change) -> bytes:
    """The workbook with every worksheet part's XML passed through `change(name, xml)`."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            target.writestr(info, change(info.filename, part) if info.filename.startswith("xl/worksheets/") else part)
    return out.getvalue()


def test_a_workbook_declaring_the_whole_sheet_is_read_by_what_it_holds(settings, write_submission):
    """Some exporters write <dimension ref="A1:XFD1048576"> for three rows: that is no reason to refuse."""
    path = write_submission("SF07_2025-26.xlsx", content=sample_content(n=3))
    path.write_bytes(rewrite_sheets(path.read_bytes(), lambda _, xml: re.sub(
        rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)))
    outcome = ingest_submission(path, settings)
    assert outcome.status == "accepted", outcome.summary()
    assert outcome.rows_ok == 6


def far_value(ref: bytes, row: bytes):
    def change(name, xml):
        if not name.endswith("sheet3.xml"):  # Deltagare
            return xml
        return xml.replace(b"</sheetData>", b'<row r="' + row + b'"><c r="' + ref + b'" t="inlineStr"><is><t>x</t>'
                                            b"</is></c></row></sheetData>")
    return change


def test_a_value_far_down_is_refused_before_it_is_read(tmp_path, write_submission):
    """calamine allocates every cell up to the farthest value: row 1,048,576 would cost 430 MiB."""
    path = write_submission("SF07_2025-26.xlsx")
    data = path.read_bytes()
    path.write_bytes(rewrite_sheets(data, far_value(b"B1048576", b"1048576")))
    with pytest.raises(UnreadableFile) as refused:
        read_xlsx(path, 20_000)
    assert refused.value.code == "FILE_TOO_LARGE"
    assert refused.value.detail == ("ett blad har innehåll ända ned till rad 1048576 och ut till kolumn M, fler celler "
                                    "än de 4 000 000 som läses")
    # A value just inside the budget is read: its row is read as any other (and found wanting).
    path.write_bytes(rewrite_sheets(data, far_value(b"B300000", b"300000")))
    assert len(read_xlsx(path, 20_000).sheets["Deltagare"]) == 300_000


def test_a_cell_without_a_value_far_away_costs_nothing(tmp_path, write_submission):
    """A styled empty cell (<c r="B1048576" s="1"/>) is skipped by calamine, and so it is here."""
    path = write_submission("SF07_2025-26.xlsx")
    path.write_bytes(rewrite_sheets(path.read_bytes(), lambda name, xml: xml.replace(
        b"</sheetData>", b'<row r="1048576"><c r="B1048576" s="1"/></row></sheetData>')))
    assert len(read_xlsx(path, 20_000).sheets["Deltagare"]) == 7


@pytest.mark.parametrize("cell", [
    b'<row r="1048576"><c t="inlineStr"><is><t>x</t></is></c></row>',  # no r=: counted on from the row
    b"<row r='9'><c r='B1048576' t='inlineStr'><is><t>x</t></is></c></row>",  # single quotes
    b'<row r="9"><c t="inlineStr" r="B1048576"><is><t>x</t></is></c></row>',  # r= not first
    b'<row r="9"><x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="B1048576" '
    b't="inlineStr"><x:is><x:t>x</x:t></x:is></x:c></row>',  # a namespace prefix
])
def test_cells_written_any_other_way_are_placed_as_calamine_places_them(tmp_path, write_submission, cell):
    path = write_submission("SF07_2025-26.xlsx")
    path.write_bytes(rewrite_sheets(path.read_bytes(), lambda name, xml: xml.replace(
        b"</sheetData>", cell + b"</sheetData>") if name.endswith("sheet3.xml") else xml))
    with pytest.raises(UnreadableFile) as refused:
        read_xlsx(path, 20_000)
    assert refused.value.code == "FILE_TOO_LARGE" and "rad 1048576" in refused.value.detail


def test_positional_cells_reach_as_far_as_they_count(tmp_path, write_submission):
    path = write_submission("SF07_2025-26.xlsx")
    row = b"<row>" + b"<c/>" * 1500 + b'<c t="inlineStr"><is><t>x</t></is></c></row>'
    path.write_bytes(rewrite_sheets(path.read_bytes(), lambda name, xml: xml.replace(
        b"</sheetData>", row + b"</sheetData>") if name.endswith("sheet3.xml") else xml))
    with pytest.raises(UnreadableFile) as refused:
        read_xlsx(path, 20_000)
    assert "kolumn BES, längre ut än de 1 000 kolumner" in refused.value.detail


def test_the_extent_does_not_depend_on_where_the_chunks_end():
    xml = (b'<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" s="2"/></row>'
           b'<row r="7"><c r="AB7"><v>4</v></c><c r="ZZ99" s="1"/></row></sheetData></worksheet>')
    for size in (1, 2, 3, 5, 8, 13, len(xml)):
        extent = SheetExtent()
        for start in range(0, len(xml), size):
            extent.feed(xml[start:start + size])
        extent.feed(b"", last=True)
        assert (extent.plain, extent.rows, extent.columns) == (True, 7, 28), size
    parsed = SheetExtent.parsed(io.BytesIO(xml))
    assert (parsed.rows, parsed.columns) == (7, 28)


def test_the_limits_are_what_the_docs_say():
    from core.settings import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "submission_format.md").read_text(encoding="utf-8")
    limits = docs.split("### 3.1.1", 1)[1].split("###", 1)[0]
    assert f"| {reader.MAX_CELLS:,} cells, {reader.MAX_COLUMNS:,} columns | `FILE_TOO_LARGE` |" in limits


# --- rules the docs used to leave open --------------------------------------------------------------

def test_counts_for_a_questionnaire_without_rows_in_the_workbook_are_taken_as_they_are(settings, write_submission):
    """§4.3: the xlsx cross-check compares counts with a questionnaire's rows only where the workbook
    has rows for it; counts alone (rows sent in another file, or none) give no warning."""
    def personal_counts(wb):
        ws = wb["Insamling"]
        row = next(r for r in range(2, 7) if ws.cell(r, 1).value == "Personal")
        ws.cell(row, 2).value, ws.cell(row, 3).value = 10, 3

    outcome = ingest_submission(write_submission("SF07_2025-26.xlsx", edit=personal_counts), settings)
    assert outcome.status == "accepted" and outcome.warnings == 0
    assert outcome.record.collection_groups == ["deltagare", "personal", "styrelse"]
    assert outcome.record.respondent_groups == ["deltagare", "styrelse"]
