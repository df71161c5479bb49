"""The bad-input corpus (`nns generate --profile bad`), ingested beside the small profile in one run.

For every corpus file: exactly its expected error and warning codes (or its
acceptance), its original archived (surveys) or left where it arrived (a
rejected register extract), nothing of a rejected file in the warehouse after
one dbt build, and every good file loaded. Isolation: with every valid-looking
corpus file ingested beside the small profile, `nns build` (dbt build, the quality
gate, publication) succeeds. Entries that are not regular files (a symlink, a FIFO)
or whose name holds a personnummer are refused while listing and left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from core import ledger
from core.settings import Settings, get_settings
from ingest.inbox import stored_name
from ingest.personnummer import FORMS, contains_personal_number, format_number, normalise
from ingest.reader import read_csv
from synthetic import generate
from synthetic.bad import BIG_ROWS, PLANTED, PLANTED_SAMORDNING, Corpus, _write_big_csv, read_manifest, write_bad_corpus
from tests.conftest import environment


@dataclass
class Run:
    settings: Settings
    manifest: dict[str, dict]  # corpus file name -> entry
    small_files: set[str]  # the small profile's file names
    originals: dict[str, str]  # file name -> sha256 before ingest
    outcomes: dict[str, object]  # file name -> Outcome
    tables: dict[str, set[str]]  # staging/intermediate model -> submission ids in it
    cells: dict[str, set[tuple[str, str]]]  # model -> (federation, period) present
    gate_passed: bool
    published: Path
    refused: dict[str, str]  # inbox entry name -> code, as listing reported it


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory) -> Run:
    """Small profile + corpus in one inbox, ingested in one run as the pipeline does, then one dbt build."""
    from ingest.submission import refused_in_inbox
    from operations.steps import (
        build_warehouse,
        files_to_ingest,
        ingest_with_feedback,
        publish_marts,
        quality_gate,
        register_files_to_ingest,
        stage_publication,
    )

    home = tmp_path_factory.mktemp("bad-corpus")
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="corpus-test-key"):
        settings = get_settings()
        generate("small", settings.inbox, settings, registers=True)
        small_files = {p.name for p in settings.inbox.iterdir() if p.is_file()}
        small_files |= {p.name for p in (settings.inbox / "register").iterdir()}
        generate("bad", settings.inbox, settings)
        manifest = read_manifest(settings.inbox)
        assert not small_files & set(manifest), "the corpus must not overwrite a good file"
        paths = [Path(p) for p in files_to_ingest(settings) + register_files_to_ingest(settings)]
        offered = {n for n, e in manifest.items() if e["kind"] != "refused"}
        assert {p.name for p in paths} == small_files | offered, "every regular file is picked up once"
        refused = {r.path.name: r.code for r in refused_in_inbox(settings)}
        originals = {p.name: _sha(p) for p in paths}
        outcomes = {p.name: ingest_with_feedback(p, settings) for p in paths}
        build_warehouse(settings)
        stage_publication(settings)
        gate = quality_gate(settings)
        gate_passed = gate.passed
        published = publish_marts(settings)
        tables, cells = {}, {}
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            for model in ("staging.stg_survey__respondents", "staging.stg_survey__collection_counts",
                          "staging.stg_register__participants", "staging.stg_register__income",
                          "intermediate.int_survey__current_submissions"):
                schema, table = model.split(".")
                name = con.execute("select table_schema || '.' || table_name from information_schema.tables "
                                   "where table_schema like ? and table_name = ?", [f"%{schema}", table]).fetchone()[0]
                tables[table] = {r[0] for r in con.execute(f"select distinct submission_id from {name}").fetchall()}
            for model in ("int_survey__respondents", "collection_status", "indicator_results"):
                name = con.execute("select table_schema || '.' || table_name from information_schema.tables "
                                   "where table_name = ?", [model]).fetchone()[0]
                cells[model] = set(con.execute(f"select distinct federation_code, period from {name}").fetchall())
            tables["current_sus"] = {r[0] for r in con.execute(
                "select distinct split_part(participation_id, ':', 1) from "
                + con.execute("select table_schema || '.' || table_name from information_schema.tables "
                              "where table_name = 'int_register__participants'").fetchone()[0]).fetchall()}
    return Run(settings, manifest, small_files, originals, outcomes, tables, cells, gate_passed, published, refused)


def _problems(run: Run, name: str) -> list[dict]:
    outcome = run.outcomes[name]
    errors_json = run.settings.quarantine / outcome.submission_id / "errors.json"
    if errors_json.exists():
        return json.loads(errors_json.read_text(encoding="utf-8"))["problems"]
    for source in ("survey", "register"):  # an accepted file's warnings are in its landed manifest
        manifest = run.settings.raw / source / outcome.submission_id / "manifest.json"
        if manifest.exists():
            return json.loads(manifest.read_text(encoding="utf-8"))["warnings"]
    return []


def test_nns_build_succeeds_with_every_corpus_file_beside_the_small_profile(corpus_run):
    """Isolation: what ingest accepts, builds. dbt build, the gate and publication all pass."""
    assert corpus_run.gate_passed
    assert corpus_run.published.exists()
    with duckdb.connect(str(corpus_run.published), read_only=True) as con:
        insats = {r[0] for r in con.execute("select distinct insats from gender_analysis").fetchall()}
    assert "alla" in insats  # the total rows, and no file's 'alla' beside them (no uniqueness failure)


def test_entries_that_are_not_regular_files_or_named_with_a_personnummer_are_refused_and_left_alone(corpus_run):
    s = corpus_run.settings
    for name, entry in corpus_run.manifest.items():
        if entry["kind"] != "refused":
            continue
        assert [corpus_run.refused.get(name)] == entry["errors"], name
        assert os.path.lexists(s.inbox / entry["path"]), f"{name} is left where it is"
    targets = {p.name for p in (s.inbox / ".symlink-target").iterdir()}
    assert targets and not any(t in r.file_name for t in targets for r in ledger.all_records(s))


def test_a_modification_time_in_the_future_is_not_the_arrival(corpus_run):
    future = [n for n, e in corpus_run.manifest.items() if "framtida-andringstid" in n]
    assert len(future) == 2
    for name in future:
        record = corpus_run.outcomes[name].record
        assert record.accepted and record.received_at < "2030", (name, record.received_at)


def test_the_corpus_is_big_enough_and_covers_the_issue(corpus_run):
    manifest = corpus_run.manifest
    assert len(manifest) >= 100
    rejected = [n for n, e in manifest.items() if e["expected"] == "rejected"]
    assert len(rejected) >= 30
    codes = {c for e in manifest.values() for c in e["errors"]}
    for code in ("SHEET_UNKNOWN", "COLUMN_MISSING", "COLUMN_UNKNOWN", "ANSWER_INVALID", "ANSWER_OUT_OF_RANGE",
                 "SERIAL_DUPLICATE", "DATE_OUTSIDE_PERIOD", "FEDERATION_UNKNOWN", "FEDERATION_MISMATCH",
                 "GROUP_NOT_OPEN", "NO_DATA", "FILE_UNREADABLE", "FILE_ENCRYPTED", "FORMULA_NO_VALUE",
                 "MERGED_CELLS", "TOO_MANY_ROWS", "PNR_INVALID", "MONTH_OUTSIDE_COVERAGE", "END_BEFORE_START",
                 "VALUE_RESERVED", "GROUP_DUPLICATE", "REGISTER_PERIOD", "PERIOD_UNKNOWN", "SHEET_DUPLICATE",
                 "COUNT_TOO_LARGE", "CSV_LINE_ENDINGS", "FILE_NAME_UNSAFE", "FILE_TOO_LARGE", "FILE_MACRO",
                 "BINARY_CONTENT", "FILE_NOT_REGULAR", "PERSONAL_NUMBER_IN_NAME"):
        assert code in codes, code
    accepted = {n for n, e in manifest.items() if e["expected"] == "accepted"}
    for fragment in ("hundraaring", "etiketter-blandade-versaler", "formler-med-varden", "libreoffice",
                     "cp1252-decimalkomma", "utf8-bom", "dolda-rader"):
        assert any(fragment in n for n in accepted), fragment


def test_each_file_gets_exactly_its_expected_outcome_and_codes(corpus_run):
    wrong = []
    for name, entry in corpus_run.manifest.items():
        if entry["kind"] == "refused":
            continue
        outcome = corpus_run.outcomes[name]
        problems = _problems(corpus_run, name)
        got = (outcome.status, sorted({p["code"] for p in problems if p["severity"] == "fel"}),
               sorted({p["code"] for p in problems if p["severity"] != "fel"}))
        if got != (entry["expected"], entry["errors"], entry["warnings"]):
            wrong.append(f"{name}: expected {entry['expected']} {entry['errors']} {entry['warnings']}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_each_line_says_what_the_docs_say(corpus_run):
    """docs/submission_format.md §8.1–8.2: the whole name, questionnaire rows, a copy already ingested."""
    for name, entry in corpus_run.manifest.items():
        if entry["kind"] == "refused":
            continue
        line = corpus_run.outcomes[name].summary()
        if entry["kind"] == "survey" and entry["expected"] == "accepted":
            assert " questionnaire rows, " in line, line
        if entry["expected"] == "known":
            assert line.startswith(f"already ingested {name} (") and line.endswith(": nothing to do"), line
        if name.isprintable():  # (control characters and a zero-width space are shown as "?")
            assert f" {name} (" in line, "the name as offered, never shortened"


def test_every_problem_says_what_to_do_in_swedish(corpus_run):
    for name in corpus_run.outcomes.keys() & corpus_run.manifest.keys():
        for p in _problems(corpus_run, name):
            assert p["message"] and p["action"] and "{" not in p["message"] + p["action"], (name, p)


def test_survey_originals_are_archived_and_leave_the_inbox(corpus_run):
    s = corpus_run.settings
    for name, entry in corpus_run.manifest.items():
        if entry["kind"] != "survey":
            continue
        outcome = corpus_run.outcomes[name]
        assert outcome.submission_id == corpus_run.originals[name]
        archived = s.archive / f"{outcome.submission_id}{Path(name).suffix.lower()}"
        assert _sha(archived) == corpus_run.originals[name], name
        assert not (s.inbox / name).exists(), name
        if entry["expected"] == "rejected":
            # (kept under its name as the ledger has it: any personnummer in it masked)
            assert _sha(s.quarantine / outcome.submission_id / stored_name(Path(name))) == corpus_run.originals[name]


def test_register_extracts_are_never_copied_and_a_failing_one_stays(corpus_run):
    s = corpus_run.settings
    for name, entry in corpus_run.manifest.items():
        if entry["kind"] != "register":
            continue
        outcome = corpus_run.outcomes[name]
        in_inbox = s.inbox / "register" / name
        if entry["expected"] == "rejected":
            assert _sha(in_inbox) == corpus_run.originals[name], f"{name} must stay, untouched"
            assert [p.name for p in (s.quarantine / outcome.submission_id).iterdir()] == ["errors.json"]
        else:
            assert not in_inbox.exists(), f"{name} is removed after a successful load"
        assert not list(s.archive.glob(f"{outcome.submission_id}*"))


def test_no_personnummer_of_the_corpus_in_what_ingest_wrote(corpus_run):
    """Problems name rows, never values, for the faulty extracts too; a number planted in a cell,
    a column or a file name is quoted nowhere (errors.json, ledger, feedback pages, file names)."""
    numbers = set()
    for path in (corpus_run.settings.inbox / "register").glob("*.csv"):
        for line in path.read_bytes().decode("utf-8", "replace").splitlines()[1:]:
            canonical = normalise(line.split(";")[0].lstrip("\ufeff"))
            if canonical:
                numbers |= {format_number(canonical, form) for form in FORMS}
    numbers |= {"20991231-1234"}
    numbers |= {format_number(planted, form) for planted in (PLANTED, PLANTED_SAMORDNING) for form in FORMS}
    assert len(numbers) > 20
    s = corpus_run.settings
    written = "".join(p.read_text(encoding="utf-8", errors="replace")
                      for folder in (s.quarantine, s.ledger, s.feedback) for p in folder.rglob("*.*")
                      if p.suffix in (".json", ".html"))
    written += "".join(str(p) for folder in (s.quarantine, s.feedback, s.ledger) for p in folder.rglob("*"))
    assert not [n for n in numbers if n in written]
    digits = "".join(ch for ch in written if ch.isdigit())
    assert PLANTED[2:] not in digits and PLANTED_SAMORDNING[2:] not in digits


def test_nothing_of_a_rejected_file_reaches_the_warehouse(corpus_run):
    everything = set().union(*(corpus_run.tables[t] for t in corpus_run.tables))
    for name, entry in corpus_run.manifest.items():
        if entry["expected"] != "rejected":
            continue
        assert corpus_run.outcomes[name].submission_id not in everything, name
        cell = (entry["federation_code"], entry["period"])
        if entry["federation_code"]:  # each corpus file has a federation × period of its own
            for model, present in corpus_run.cells.items():
                assert cell not in present, f"{name}: {cell} in {model}"


def test_every_good_file_is_loaded(corpus_run):
    staged = (corpus_run.tables["stg_survey__respondents"] | corpus_run.tables["stg_survey__collection_counts"]
              | corpus_run.tables["stg_register__participants"] | corpus_run.tables["stg_register__income"])
    for name, entry in corpus_run.manifest.items():
        if entry["expected"] != "accepted":
            continue
        submission_id = corpus_run.outcomes[name].submission_id
        assert submission_id in staged, name
        if entry["kind"] == "survey":  # and it is the current submission of its own cell
            assert submission_id in corpus_run.tables["int_survey__current_submissions"], name
            for model in ("int_survey__respondents", "collection_status"):
                assert (entry["federation_code"], entry["period"]) in corpus_run.cells[model], (name, model)
    # The small profile beside it: everything accepted is staged; its only rejections are the
    # generator's deliberately spoiled first versions (an answer 7).
    for name in corpus_run.small_files:
        outcome = corpus_run.outcomes[name]
        if outcome.status == "accepted":
            assert outcome.submission_id in staged, name
        else:
            assert {p["code"] for p in _problems(corpus_run, name)} == {"ANSWER_OUT_OF_RANGE"}, name
    # An older SUS extract from the corpus does not replace the small profile's current one.
    current = corpus_run.tables["current_sus"]
    assert [corpus_run.outcomes[n].file_name for n in corpus_run.small_files
            if corpus_run.outcomes[n].submission_id in current] == ["sus_deltagare_2024-06.csv"]


def test_the_corpus_is_byte_deterministic(tmp_path, catalogue):
    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}

    write_bad_corpus(tmp_path / "a", catalogue)
    write_bad_corpus(tmp_path / "b", catalogue)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_a_runaway_csv_is_counted_not_held_in_memory(tmp_path, catalogue):
    path = tmp_path / "SF42_2025-26_Deltagare.csv"
    _write_big_csv(Corpus(tmp_path, catalogue, 1), path, "SF42", "2025/26")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        sheets = read_csv(path, "Deltagare", max_rows=20_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sheets.row_counts == {"Deltagare": BIG_ROWS}
    assert len(sheets.sheets["Deltagare"]) == 20_000 + 2  # the header and one row past the limit
    # The bytes and their decoded text, plus the kept rows (about 3x the file): not 200,000 rows
    # of Python strings (about 10x).
    assert peak < 5 * size, f"peak {peak / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_lines_end_at_lf_crlf_or_a_lone_cr(tmp_path, newline):
    path = tmp_path / "SF07_2025-26_Styrelse.csv"
    path.write_bytes(newline.join(['Löpnummer;Datum', '1;"två' + newline + 'rader"', '2;x', '']).encode())
    assert read_csv(path, "Styrelse").sheets["Styrelse"] == [
        ["Löpnummer", "Datum"], ["1", "två" + newline + "rader"], ["2", "x"]]


def test_a_long_sheet_in_a_workbook_is_counted_while_streaming(tmp_path):
    import xlsxwriter

    from ingest.reader import read_xlsx

    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Deltagare")
    ws.write_row(0, 0, ["Löpnummer", "D01"])
    for r in range(1, 31):
        if r != 10:  # a blank row is not counted
            ws.write_row(r, 0, [r, 4])
    wb.close()
    sheets = read_xlsx(path, max_rows=5)
    assert sheets.row_counts == {"Deltagare": 29}
    assert len(sheets.sheets["Deltagare"]) == 1 + 6
    assert read_xlsx(path, max_rows=50).row_counts == {}


def test_every_problem_code_is_documented_with_its_message_and_action():
    """docs/submission_format.md §7.3 and docs/register_extracts.md §9 list each code verbatim."""
    from core.settings import REPO_ROOT
    from ingest.problems import CODES

    docs = (REPO_ROOT / "docs" / "submission_format.md").read_text(encoding="utf-8")
    docs += (REPO_ROOT / "docs" / "register_extracts.md").read_text(encoding="utf-8")
    rows = {}
    for line in docs.splitlines():
        if line.startswith("| `") and "` |" in line:
            rows.setdefault(line[3:line.index("` |")], []).append(line)
    for code, (_, message, action) in CODES.items():
        assert any(message in row and action in row for row in rows.get(code, [])), code


def test_every_corpus_case_is_documented_with_its_codes(corpus_run):
    """docs/bad_input_corpus.md lists each file (names with control characters shown as ⏎ ⇥ [U+200B],
    long ones shortened, a personnummer as <personnummer>) with its codes."""
    from core.settings import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "bad_input_corpus.md").read_text(encoding="utf-8")
    rows = [line for line in docs.splitlines() if line.startswith("| `")]
    missing = []
    for name, entry in corpus_run.manifest.items():
        shown = entry["path"]
        if len(shown) > 80:
            shown = shown[:40] + "…" + shown[-20:]
        shown = shown.replace("\n", "⏎").replace("\t", "⇥").replace("\u200b", "[U+200B]")
        row = next((r for r in rows if r.startswith(f"| `{shown}")), None)
        if row is None and contains_personal_number(name):
            continue  # a planted number is documented as <personnummer>
        if row is None or not all(f"`{code}`" in row for code in entry["errors"] + entry["warnings"]):
            missing.append(name)
    assert not missing, missing
    assert f"**{len(corpus_run.manifest)} cases**" in docs
