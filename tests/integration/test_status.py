"""`nns status`: what an operator sees, and exit codes a script can trust."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from core import ledger
from ingest import inbox
from ingest.submission import ingest_submission
from operations import cli
from operations.build_log import read_build_status, record_step, track
from tests.conftest import sample_content
from warehouse.dbt import run_dbt

IN_WINDOW = "2026-11-20"  # 2025/26's autumn window is open (collection_calendar.csv)
SUMMER = "2026-07-01"
AFTER_THE_LOADS = "2026-08-15"  # after the extracts loaded in August; no window open


@pytest.fixture(autouse=True)
def no_deadline_attention(monkeypatch):
    """IN_WINDOW is ten days before the window closes, when every federation without a file
    would need attention; these tests are about other things (that rule: tests/unit/test_morning.py)."""
    monkeypatch.setenv("NNS_ATTENTION_DAYS", "0")


@pytest.fixture(autouse=True)
def loaded_in_the_window(monkeypatch):
    """Files ingested here are recorded as loaded on IN_WINDOW, the day the status is asked for (a
    status for a day shows the ledger as it stood at the end of that day)."""
    monkeypatch.setattr(ledger, "now_utc", lambda: f"{IN_WINDOW}T08:00:00+00:00")


def status(capsys, *args) -> tuple[int, str]:
    code = cli.main(["status", *args])
    return code, capsys.readouterr().out


def status_json(capsys, *args) -> tuple[int, dict]:
    code, out = status(capsys, "--json", *args)
    report = json.loads(out)
    assert report["exit_code"] == code
    return code, report


def build_current(settings) -> None:
    """What `nns status` reads from the warehouse: dbt's models of the current submissions."""
    run_dbt(settings, "run", "--select", "+int_survey__current_submissions", "+int_register__current_extracts")


def broken(wb):
    wb["Deltagare"]["F2"] = 7  # an answer outside the scale


def test_a_quarantined_file_needs_attention_until_a_corrected_one_arrives(settings, write_submission, capsys):
    assert ingest_submission(write_submission("SF07_2025-26.xlsx"), settings).status == "accepted"
    rejected = ingest_submission(write_submission("SF08_2025-26.xlsx", content=sample_content("SF08"), edit=broken),
                           settings)
    assert rejected.status == "rejected"

    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert report["warehouse"].startswith("no warehouse yet")
    assert {f["federation_code"]: f["rows"] for f in report["federations"]}["SF07"] is None
    assert "Rows in use: not known, no warehouse yet" in status(capsys, "--date", IN_WINDOW)[1]

    build_current(settings)
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 1 and report["warehouse"] == "built"
    assert report["window"]["period"] == "2025/26" and report["window"]["open"]
    rows = {f["federation_code"]: f for f in report["federations"]}
    assert rows["SF07"]["state"] == "received" and rows["SF07"]["rows"] == 9
    assert rows["SF08"]["state"] == "quarantined" and rows["SF08"]["rejected"] == 1
    assert rows["SF01"]["state"] == "waiting" and rows["SF01"]["files"] == 0
    [waiting] = report["quarantined"]
    assert waiting["file_name"] == "SF08_2025-26.xlsx" and waiting["submission_id"] == rejected.submission_id
    assert waiting["first_problem"].startswith("ANSWER_OUT_OF_RANGE") and "row 2" in waiting["first_problem"]
    assert (settings.home / waiting["details"]).is_file()
    assert {r["file_name"] for r in report["recent_loads"]} == {"SF08_2025-26.xlsx", "SF07_2025-26.xlsx"}
    assert report["attention"] == ["1 quarantined file(s) awaiting action"]

    code, text = status(capsys, "--date", IN_WINDOW)
    assert code == 1
    for expected in ("Collection window open: 2025/26 höst, 2026-10-01 – 2026-11-30",
                     "1 with an accepted file, 1 with a quarantined file, ", "Quarantined files awaiting action: 1",
                     "SF08_2025-26.xlsx",
                     "first: ANSWER_OUT_OF_RANGE", f"lake/quarantine/{rejected.submission_id}/errors.json",
                     "Needs attention: 1 quarantined file(s) awaiting action"):
        assert expected in text, expected

    corrected = write_submission("SF08_2025-26_v2.xlsx", content=sample_content("SF08"))
    inbox.observe(corrected, settings, now=time.time() + 60)  # arrives later
    assert ingest_submission(corrected, settings).status == "accepted"
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 0 and report["quarantined"] == [] and report["attention"] == []
    assert {f["federation_code"]: f["state"] for f in report["federations"]}["SF08"] == "received"

    # A resubmission replaces the earlier file's rows; it does not add to them.
    resubmitted = write_submission("SF07_2025-26_v2.xlsx", content=sample_content(n=8))
    inbox.observe(resubmitted, settings, now=time.time() + 60)  # arrives later
    assert ingest_submission(resubmitted, settings).status == "accepted"
    build_current(settings)
    code, report = status_json(capsys, "--date", IN_WINDOW)
    sf07 = {f["federation_code"]: f for f in report["federations"]}["SF07"]
    assert (sf07["files"], sf07["accepted"], sf07["rows"]) == (2, 2, 8 + 3)


def test_the_last_build_and_its_failure_are_shown(settings, capsys):
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 0 and report["build"]["state"] == "none"
    with track(settings, "dbt_build"):
        pass
    with pytest.raises(RuntimeError), track(settings, "quality_gate") as result:
        result["failed_expectations"] = 2
        raise RuntimeError("2 expectations failed in indicator_results\nsecond line")
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 1 and report["build"]["state"] == "failed"
    gate = report["build"]["steps"]["quality_gate"]
    assert gate["status"] == "failed" and gate["failed_expectations"] == 2 and gate["error"].startswith("2 expect")
    assert report["attention"] == ["the last build did not finish: quality_gate"]
    code, text = status(capsys, "--date", IN_WINDOW)
    assert "quality_gate  failed" in text and "2 expectations failed in indicator_results" in text
    assert "publish       not run in this build" in text

    # A new build starts: the earlier gate and publish results belong to the old build and go.
    with track(settings, "dbt_build"):
        assert set(read_build_status(settings)["steps"]) == {"dbt_build"}
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 0 and report["build"]["state"] == "success"


def test_a_build_killed_mid_step_shows_as_interrupted(settings, capsys):
    gone = subprocess.Popen(["true"])
    gone.wait()
    record_step(settings, "dbt_build", {"status": "running", "started_at": "2026-11-20T01:40:00+00:00",
                                        "pid": gone.pid, "host": socket.gethostname()})
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 1 and report["build"]["steps"]["dbt_build"]["status"] == "interrupted"
    record_step(settings, "dbt_build", {"status": "running", "started_at": "2026-11-20T01:40:00+00:00",
                                        "pid": os.getpid(), "host": socket.gethostname()})
    code, report = status_json(capsys, "--date", IN_WINDOW)
    assert code == 0 and report["build"]["state"] == "running"


def test_outside_a_window_it_says_which_was_last_and_which_is_next(settings, capsys):
    code, report = status_json(capsys, "--date", SUMMER)
    assert code == 0 and report["window"] is None
    assert report["last_window"]["period"] == "2025/26" and report["last_window"]["name"] == "vår"
    assert report["next_window"]["opens_on"] == "2026-10-01"
    assert report["period"] == "2025/26"
    code, text = status(capsys, "--date", SUMMER)
    assert "No collection window is open. Last: 2025/26 vår, closed 2026-05-15. Next: 2025/26 höst" in text
    code, report = status_json(capsys, "--date", SUMMER, "--period", "2019/20")
    assert report["period"] == "2019/20" and report["federations"]


@pytest.mark.parametrize("args", [["--date", "20 november"], ["--period", "2025"]])
def test_wrong_usage_exits_2(settings, capsys, args):
    assert cli.main(["status", *args]) == 2
    assert capsys.readouterr().err.startswith("Not a ")


def test_an_unknown_option_exits_2(settings):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["status", "--bogus"])
    assert exit_info.value.code == 2


def test_no_data_home_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NNS_HOME", str(tmp_path / "nowhere"))
    assert cli.main(["status"]) == 2
    assert "No data home" in capsys.readouterr().err


def register_record(settings, submission_id, source, first, last, fingerprint, received="2026-07-01T08:00:00+00:00"):
    from ingest import lake

    lake.ensure_lake(settings)
    ledger.write_record(settings, ledger.LedgerRecord(
        submission_id=submission_id, source=source, file_name=f"{submission_id}.csv", status="accepted",
        received_at=received, ingested_at=received, first_month=first, extract_month=last,
        rows_ok=10, key_fingerprint=fingerprint))
    build_current(settings)  # status reads which extracts are in use from the warehouse


def test_extracts_loaded_with_different_keys_need_attention(settings, capsys, monkeypatch):
    from ingest.personnummer import key_fingerprint

    key = key_fingerprint("test-key-not-secret")  # the settings fixture's key
    # A day after every load below (the status for a day shows no load made after it), outside a window.
    register_record(settings, "sus1", "register_sus", None, "2026-06", key)
    register_record(settings, "inc1", "register_income", "2019-01", "2026-06", key)
    code, report = status_json(capsys, "--date", AFTER_THE_LOADS)
    assert code == 0 and report["registers"]["keys_in_use"] == [key] == [report["registers"]["configured_key"]]
    assert report["registers"]["sus"]["extract_month"] == "2026-06"

    # A rotation half done: a new SUS extract under a new key, the income still under the old one.
    monkeypatch.setenv("NNS_PSEUDONYM_KEY", "a-new-key")
    new = key_fingerprint("a-new-key")
    code, report = status_json(capsys, "--date", AFTER_THE_LOADS)
    assert code == 1 and "configured pseudonym key is not the one" in report["attention"][0]
    register_record(settings, "sus2", "register_sus", None, "2026-06", new, received="2026-08-01T08:00:00+00:00")
    code, report = status_json(capsys, "--date", AFTER_THE_LOADS)
    assert code == 1 and report["registers"]["keys_in_use"] == sorted([key, new])
    assert "do not link" in report["attention"][0]
    # An income extract under the new key that covers only recent months still leaves old months in use.
    register_record(settings, "inc2", "register_income", "2026-01", "2026-06", new,
                    received="2026-08-01T08:00:00+00:00")
    code, report = status_json(capsys, "--date", AFTER_THE_LOADS)
    assert code == 1 and report["registers"]["keys_in_use"] == sorted([key, new])
    # The full history reloaded under the new key: everything in use links again.
    register_record(settings, "inc3", "register_income", "2019-01", "2026-06", new,
                    received="2026-08-02T08:00:00+00:00")
    code, report = status_json(capsys, "--date", AFTER_THE_LOADS)
    assert code == 0 and report["registers"]["keys_in_use"] == [new]


def test_register_loads_record_their_key_fingerprint(published_home):
    from ingest.personnummer import key_fingerprint

    registers = [r for r in ledger.all_records(published_home) if r.is_register]
    assert registers and {r.key_fingerprint for r in registers} == {key_fingerprint("test-key-not-secret")}
