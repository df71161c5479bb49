"""Reruns are safe by construction: clearing a task, forcing a file again or rerunning by
hand leaves the lake as one ingest of those bytes would; `force` reprocesses after a fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core import ledger
from core.settings import get_settings
from ingest import inbox
from ingest.submission import ingest_submission
from operations.steps import files_to_ingest, ingest_with_feedback, register_files_to_ingest
from tests.conftest import sample_content
from tests.unit.test_register import MAN, sus_row, write_sus

NNS = str(Path(sys.executable).with_name("nns"))


def lake_state(settings) -> dict:
    """What the warehouse reads: the ledger (less when it was written) and every raw row."""
    records = {r.submission_id: {k: v for k, v in r.to_dict().items() if k != "ingested_at"}
               for r in ledger.all_records(settings)}
    raw = {}
    for path in sorted(settings.raw.rglob("*.parquet")):
        raw[str(path.relative_to(settings.raw))] = sorted(map(str, pq.read_table(path).to_pylist()))
    folders = sorted(str(p.relative_to(settings.lake)) for p in settings.lake.glob("*/*"))
    return {"ledger": records, "raw": raw, "folders": folders}


def test_forcing_the_same_bytes_again_leaves_the_same_lake(settings, write_submission):
    path = write_submission("SF07_2025-26.xlsx")
    copy = path.read_bytes()
    first = ingest_submission(path, settings)
    before = lake_state(settings)
    assert first.status == "accepted" and files_to_ingest(settings) == []

    # From the archive (what a forced DAG run maps), under its original name and arrival time.
    archived = files_to_ingest(settings, federation="sf07", force=True)
    assert archived == [str(settings.archive / f"{first.submission_id}.xlsx")]
    assert ingest_with_feedback(Path(archived[0]), settings, force=True).status == "accepted"
    assert lake_state(settings) == before

    # By hand, the same bytes dropped in the inbox again: seen anew, but the ledger's arrival is kept.
    path.write_bytes(copy)
    result = subprocess.run([NNS, "ingest", "--force", str(path)], capture_output=True, text=True,
                            env={**os.environ, "NNS_HOME": str(settings.home)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert lake_state(settings) == before, "no duplicate rows, no second folder"
    assert not path.exists() and not list(settings.lake.glob(".reprocess*")), "nothing left behind"


def test_an_archived_original_whose_id_reads_like_a_personnummer_is_still_reprocessed(settings):
    """About 1 in 300 SHA-256 ids holds a digit run with a real date and check digit. Such an id is the
    product's own name for the archived copy, not a sender's name: a forced reprocess is not refused."""
    import hashlib

    from ingest.personnummer import contains_personal_number

    header = "Löpnummer;Datum;Kön;S01;S02;S03;S04;S16\r\n"
    data = next(body for n in range(20_000)
                if contains_personal_number(hashlib.sha256(
                    body := f"{header}{n};2025-11-20;Kvinna;4;4;4;4;4\r\n".encode()).hexdigest()))
    path = settings.inbox / "SF07_2025-26_Styrelse.csv"
    path.write_bytes(data)
    first = ingest_submission(path, settings)
    archived = settings.archive / f"{first.submission_id}.csv"
    assert first.status == "accepted" and contains_personal_number(archived.name)
    again = ingest_with_feedback(archived, settings, force=True)
    assert again.status == "accepted" and again.file_name == "SF07_2025-26_Styrelse.csv"


def test_force_reprocesses_a_file_after_a_contract_fix(settings, write_submission, monkeypatch):
    # The "contract" here is the row limit, a setting: too strict first, then fixed.
    monkeypatch.setenv("NNS_MAX_ROWS_PER_SHEET", "2")
    path = write_submission("SF07_2025-26.xlsx")
    rejected = ingest_submission(path, get_settings())
    assert rejected.status == "rejected" and "TOO_MANY_ROWS" in rejected.first_problem
    first_record = ledger.read_record(settings, rejected.submission_id)

    monkeypatch.delenv("NNS_MAX_ROWS_PER_SHEET")
    fixed = get_settings()
    assert files_to_ingest(fixed) == [], "without force the known bytes are not taken again"
    [archived] = files_to_ingest(fixed, file_name="SF07_2025-26.xlsx", force=True)
    outcome = ingest_with_feedback(Path(archived), fixed, force=True)
    assert outcome.status == "accepted" and outcome.file_name == "SF07_2025-26.xlsx"
    record = ledger.read_record(fixed, outcome.submission_id)
    assert record.status == "accepted" and record.file_name == "SF07_2025-26.xlsx"
    assert record.received_at == first_record.received_at, "it arrived when it first arrived"
    assert (fixed.raw / "survey" / outcome.submission_id).is_dir()
    assert not (fixed.quarantine / outcome.submission_id).exists(), "no stale rejection left in the lake"


def test_a_cleared_task_reports_the_ledger_and_touches_nothing(settings, write_submission):
    good = write_submission("SF07_2025-26.xlsx")
    bad = settings.inbox / "SF08_2025-26.xlsx"
    bad.write_bytes(b"not a workbook")
    assert ingest_with_feedback(good, settings).status == "accepted"
    assert ingest_with_feedback(bad, settings).status == "rejected"
    before = lake_state(settings)

    # Both have left the inbox; clearing their tasks runs ingest_with_feedback on the same paths again.
    again = ingest_with_feedback(good, settings)
    assert again.status == "known" and lake_state(settings) == before
    still = ingest_with_feedback(bad, settings)
    assert still.status == "rejected" and "nns ingest" in still.summary(), "the task fails again, saying why"
    assert lake_state(settings) == before
    with pytest.raises(FileNotFoundError):
        ingest_with_feedback(settings.inbox / "SF09_2025-26.xlsx", settings)

    # The same broken bytes sent again stay rejected: a task succeeds only for an accepted file.
    bad.write_bytes(b"not a workbook")
    assert ingest_with_feedback(bad, settings).status == "rejected"

    # The corrected file under the same name is new bytes: clearing the task now lands it.
    from core.catalogue import load_catalogue
    from ingest.template import write_workbook

    write_workbook(bad, sample_content("SF08"), load_catalogue(settings.catalogue_dir), with_guidance=False)
    assert ingest_with_feedback(bad, settings).status == "accepted"


def test_force_takes_the_latest_file_of_each_name(settings, write_submission):
    broken = settings.inbox / "SF07_2025-26.xlsx"
    broken.write_bytes(b"cut off")
    inbox.observe(broken, settings, now=1_700_000_000)  # arrived in 2023, before the correction
    assert ingest_submission(broken, settings).status == "rejected"
    corrected = ingest_submission(write_submission("SF07_2025-26.xlsx"), settings)
    other = ingest_submission(write_submission("SF08_2025-26.xlsx", content=sample_content("SF08")), settings)
    chosen = files_to_ingest(settings, federation="SF07", force=True)
    assert chosen == [str(settings.archive / f"{corrected.submission_id}.xlsx")]
    assert len(files_to_ingest(settings, force=True)) == 2, "one per file name, both federations"
    assert other.status == corrected.status == "accepted"


def test_force_loads_a_rejected_register_extract_after_a_fix(settings, monkeypatch):
    import ingest.register as register

    folder = settings.inbox / "register"
    folder.mkdir(parents=True)
    path = write_sus(folder, [sus_row(MAN, "M")])
    strict = register._validate_sus

    def too_strict(con, catalogue, extract, problems):  # a contract bug, for the test
        strict(con, catalogue, extract, problems)
        problems.append(register.problem("REGISTER_EMPTY"))

    monkeypatch.setattr(register, "_validate_sus", too_strict)
    first = ingest_with_feedback(path, settings)
    assert first.status == "rejected" and path.exists(), "a failing extract stays where it arrived"
    assert register_files_to_ingest(settings) == []
    monkeypatch.setattr(register, "_validate_sus", strict)  # the fix

    assert register_files_to_ingest(settings, force=True) == [str(path)]
    assert ingest_with_feedback(path, settings, force=True).status == "accepted"
    assert not path.exists() and not (settings.quarantine / first.submission_id).exists()
    assert (settings.raw / "register" / first.submission_id / "participants.parquet").exists()


def nns(settings, *args, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NNS_AIRFLOW", "AIRFLOW"))}
    return subprocess.run([NNS, *args], capture_output=True, text=True, timeout=600,
                          env={**clean, "NNS_HOME": str(settings.home), **env})


def test_the_rerun_outcome_decides_the_exit_code():
    from operations.rerun import EXIT_OK, EXIT_PROBLEM, _collect_exit, summarise

    def ti(task_id, map_index=-1, state="success", label=None):
        return {"task_id": task_id, "map_index": map_index, "state": state, "rendered_map_index": label,
                "hostname": "w1", "start_date": "2026-11-22T10:00:00Z"}

    said = []
    good = summarise("success", [ti("new_files"), ti("ingest", 0, label="SF07_2025-26.xlsx"), ti("announce")])
    assert good.announced and good.files == [("SF07_2025-26.xlsx", "success", "w1")]
    assert _collect_exit(good, {"force": False, "federation": "SF07"}, said.append) == EXIT_OK
    bad = summarise("success", [ti("ingest", 0, "failed", "SF07_2025-26.xlsx"), ti("ingest", 1, label="b"),
                                ti("announce")])
    assert bad.failed == ["SF07_2025-26.xlsx"] and _collect_exit(bad, {"force": False}, said.append) == EXIT_PROBLEM
    empty = summarise("success", [ti("ingest", -1, "skipped"), ti("announce", state="skipped")])
    assert not empty.announced and _collect_exit(empty, {"force": False, "federation": "SF07"},
                                                  said.append) == EXIT_PROBLEM
    assert "Nothing to ingest for federation SF07" in said[-1] and "--force" in said[-1]


def test_nns_rerun_exit_codes_for_usage_and_configuration(settings):
    assert nns(settings, "rerun").returncode == 2, "--federation or --file is required"
    assert nns(settings, "rerun", "--federation", "SF07", "--file", "x.xlsx").returncode == 2
    half = nns(settings, "rerun", "--federation", "SF07", NNS_AIRFLOW_API_URL="http://127.0.0.1:9")
    assert half.returncode == 2 and "NNS_AIRFLOW_PASSWORD" in half.stderr
    unreachable = nns(settings, "rerun", "--federation", "SF07", NNS_AIRFLOW_API_URL="http://127.0.0.1:9",
                      NNS_AIRFLOW_PASSWORD="x")
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stdout


def test_the_password_may_be_the_auth_managers_own_file(tmp_path):
    from operations.orchestration.rest_api import password_from_secret

    assert password_from_secret(json.dumps({"operator": "s3cret", "other": "x"}), "operator") == "s3cret"
    assert password_from_secret("plain", "operator") == "plain"
    assert password_from_secret(None, "operator") is None
