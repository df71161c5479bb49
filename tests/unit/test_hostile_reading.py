"""Bounded, total reading: any bytes give problems, never a traceback; strict forms (ingest/reader.py, contract.py).

The fuzz test is seeded and bounded in `make test` (NNS_FUZZ_EXAMPLES, default 60
per strategy); `make fuzz` runs it long (2,000 per strategy) with a random seed.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ingest import reader
from ingest.contract import _Answers, _parse_date, parse_name
from ingest.reader import UnreadableFile, read_csv, read_xlsx
from ingest.template import write_workbook
from ingest.verdict import judge_survey
from tests.conftest import sample_content

EXAMPLES = int(os.environ.get("NNS_FUZZ_EXAMPLES", "60"))
FUZZ_SEED = os.environ.get("NNS_FUZZ_SEED")
fuzz = hsettings(max_examples=EXAMPLES, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _seeded(test):
    return test if FUZZ_SEED == "random" else seed(int(FUZZ_SEED or 20251101))(test)


@pytest.fixture(scope="module")
def valid_workbook(tmp_path_factory, catalogue) -> bytes:
    path = tmp_path_factory.mktemp("wb") / "SF07_2025-26.xlsx"
    write_workbook(path, sample_content(), catalogue, with_guidance=False)
    return path.read_bytes()


def _outcome(tmp_path: Path, name: str, data: bytes, settings):
    path = tmp_path / name
    path.write_bytes(data)
    verdict = judge_survey(path, path.name, settings)
    parsed = verdict.parsed  # must return, whatever the bytes
    assert parsed.problems or parsed.rows_total >= 0
    for p in parsed.problems:
        assert p.code and p.message and "{" not in p.message
    return parsed


@_seeded
@fuzz
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_escape_as_a_traceback(tmp_path, settings, data):
    for name in ("SF07_2025-26.xlsx", "SF07_2025-26_Styrelse.csv"):
        _outcome(tmp_path, name, data, settings)


@_seeded
@fuzz
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_workbooks_are_problems(tmp_path, settings, valid_workbook, cut):
    data = valid_workbook[: int(len(valid_workbook) * cut)]
    parsed = _outcome(tmp_path, "SF07_2025-26.xlsx", data, settings)
    assert cut > 0.999 or parsed.problems


@_seeded
@fuzz
@given(edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                      min_size=1, max_size=8))
def test_mutated_valid_workbooks_are_read_or_rejected(tmp_path, settings, valid_workbook, edits):
    data = bytearray(valid_workbook)
    for position, value in edits:
        data[position % len(data)] = value
    _outcome(tmp_path, "SF07_2025-26.xlsx", bytes(data), settings)


@_seeded
@fuzz
@given(part=st.sampled_from(["xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet3.xml",
                             "xl/sharedStrings.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"]),
       junk=st.binary(max_size=300))
def test_workbooks_with_a_broken_part_are_read_or_rejected(tmp_path, settings, valid_workbook, part, junk):
    source = zipfile.ZipFile(io.BytesIO(valid_workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info.filename, data[: len(data) // 2] + junk if info.filename == part else data)
    _outcome(tmp_path, "SF07_2025-26.xlsx", out.getvalue(), settings)


# --- bounds ---------------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_before_reading(tmp_path, valid_workbook):
    source = zipfile.ZipFile(io.BytesIO(valid_workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/sharedStrings.xml":
                data = data.replace(b"</sst>", b" " * (200 * 1024 * 1024) + b"</sst>")  # 200 MiB, ~200 KB packed
            target.writestr(info.filename, data)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(out.getvalue())
    assert path.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(UnreadableFile) as refused:
        read_xlsx(path)
    assert refused.value.code == "FILE_TOO_LARGE"


def test_a_file_over_the_size_limit_is_not_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.csv"
    path.write_bytes(b"a;b\n" * 500)
    with pytest.raises(UnreadableFile) as refused:
        read_csv(path, "Styrelse")
    assert refused.value.code == "FILE_TOO_LARGE"


def test_a_nul_byte_anywhere_and_mixed_line_endings_are_problems(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a;b\n" * 2000 + b"1;\x002\n")
    with pytest.raises(UnreadableFile) as found:
        read_csv(path, "Styrelse")
    assert found.value.code == "BINARY_CONTENT" and found.value.details["row"] == 2001
    path.write_bytes(b"a;b\n1;2\r3;4\n")
    with pytest.raises(UnreadableFile) as found:
        read_csv(path, "Styrelse")
    assert found.value.code == "CSV_LINE_ENDINGS"
    path.write_bytes(b'a;b\n1;"two\rlines"\n')  # a CR inside quotes is a cell's line break
    assert read_csv(path, "Styrelse").sheets["Styrelse"][1] == ["1", "two\rlines"]


# --- strict forms -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["4e0", "0_4", "\u0664", "\uff14", "inf", "nan", "0x4", "4.", "4 4"])
def test_only_listed_number_forms_are_answers(catalogue, text):
    assert _Answers(catalogue, "frekvens6").parse(text) == (None, "ANSWER_INVALID")


@pytest.mark.parametrize("text", ["4", "4,0", "4.0", "+4", "04", " 4 "])
def test_listed_number_forms_still_read(catalogue, text):
    assert _Answers(catalogue, "frekvens6").parse(text) == (4, None)


@pytest.mark.parametrize("text", ["2026-W11-6", "2026-073", "2026-3-14", "\u0662\u0660\u0662\u0666-03-14",
                                  "14/03/2026", "2026-02-30", "20261340"])
def test_only_listed_date_forms_are_dates(text):
    assert _parse_date(text) is None


def test_listed_date_forms_and_the_1904_system():
    assert _parse_date("2026-03-14 10:30") == _parse_date("2026-03-14T10:30:00") == date(2026, 3, 14)
    assert _parse_date("20260314") == date(2026, 3, 14)
    assert _parse_date(46095) == date(2026, 3, 14)
    assert _parse_date(46095 - 1462, date1904=True) == date(2026, 3, 14)


def test_names_with_control_characters_or_too_long_are_refused(catalogue):
    assert parse_name("SF07_2025-26.xlsx\n", catalogue).code == "FILE_NAME_UNSAFE"
    assert parse_name("SF07_2025-26_" + "x" * 120 + ".xlsx", catalogue).code == "FILE_NAME_UNSAFE"
    assert parse_name("SF07_2099-00.xlsx", catalogue).code == "PERIOD_UNKNOWN"
    nfd = "SF07_2025-26_ra\u0308ttad.xlsx"
    assert parse_name(nfd, catalogue).federation_code == "SF07"


def test_a_file_with_thousands_of_bad_cells_lists_a_bounded_number(tmp_path, settings, catalogue):
    from ingest.contract import MAX_PROBLEMS
    from ingest.template import group_columns

    group = next(g for g in catalogue.groups if g.code == "styrelse")
    header = group_columns(group, catalogue, "2025/26")
    lines = [";".join(header)] + [";".join([str(i), "2025-12-01", "Kvinna"] + ["x"] * (len(header) - 3))
                                  for i in range(1, 1001)]
    path = tmp_path / "SF07_2025-26_Styrelse.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = judge_survey(path, path.name, settings).parsed
    assert len(parsed.problems) == MAX_PROBLEMS + 1
    assert parsed.problems[-1].code == "TOO_MANY_PROBLEMS"
    assert parsed.rows_ok == 0 and parsed.rows_total == 1000  # every row still counted as faulty


def test_a_count_of_three_billion_is_a_problem_a_sender_can_read(tmp_path, settings):
    path = tmp_path / "SF07_2025-26_Insamling.csv"
    path.write_text("Enkät;Antal tillfrågade;Antal besvarade\nStyrelse;3000000000;5\n", encoding="utf-8")
    parsed = judge_survey(path, path.name, settings).parsed
    [found] = [p for p in parsed.problems if p.code == "COUNT_TOO_LARGE"]
    assert "3,0 miljarder" in found.message and found.row == 2
