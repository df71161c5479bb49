"""The operator's morning: `nns status`, the CLI's manners, and `nns quarantine`'s record."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from core import ledger, set_aside
from operations import cli, steps
from operations.build_log import record_step
from operations.status import _cut, _local, render_text, status_report
from tests.conftest import sample_content

NNS = str(Path(sys.executable).with_name("nns"))
MID_WINDOW = date(2026, 11, 20)  # 2025/26 höst closes 2026-11-30


def record(settings, submission_id: str, federation: str, *, status=ledger.ACCEPTED,
           received="2026-10-05T08:00:00+00:00", name=None, period="2025/26") -> ledger.LedgerRecord:
    r = ledger.LedgerRecord(submission_id * 64 if len(submission_id) == 1 else submission_id, ledger.SURVEY,
                            name or f"{federation}_2025-26.xlsx", received, received, status=status,
                            federation_code=federation, period=period, rows_ok=3,
                            respondent_groups=["deltagare"])
    ledger.write_record(settings, r)
    return r


# --- nns status -------------------------------------------------------------------------------

def test_times_are_local_with_their_zone():
    assert _local("2026-11-20T08:14:00+00:00", "Europe/Stockholm") == "2026-11-20 09:14 CET"
    assert _local("2026-07-01T08:14:00+00:00", "Europe/Stockholm") == "2026-07-01 10:14 CEST"
    assert _local(None, "Europe/Stockholm") == "-"


def test_a_cut_name_ends_in_an_ellipsis():
    assert _cut("Samordningsförbundet Huddinge, Botkyrka och Salem", 30) == "Samordningsförbundet Huddinge…"
    assert len(_cut("x" * 40, 30)) == 30
    assert _cut("SF07", 30) == "SF07"


def test_last_received_is_the_current_file_not_a_later_rejected_one(settings):
    record(settings, "a", "SF07", received="2026-10-05T08:00:00+00:00", name="SF07_2025-26.xlsx")
    record(settings, "b", "SF07", status=ledger.REJECTED, received="2026-11-18T08:00:00+00:00",
           name="SF07_2025-26_v2.xlsx")
    report = status_report(settings, MID_WINDOW)
    sf07 = next(f for f in report["federations"] if f["federation_code"] == "SF07")
    assert sf07["last_file"] == "SF07_2025-26.xlsx" and sf07["last_received_at"].startswith("2026-10-05")
    text = render_text(report)
    assert "times in Europe/Stockholm" in text and "2026-10-05 10:00 CEST" in text


def test_saknas_near_the_deadline_needs_attention(settings, monkeypatch):
    record(settings, "a", "SF07")
    report = status_report(settings, MID_WINDOW)
    saknas = [a for a in report["attention"] if "saknas" in a]
    assert saknas and "closes in 10 day(s)" in saknas[0] and "SF01" in saknas[0] and "SF07" not in saknas[0]
    early = status_report(settings, date(2026, 10, 2))  # 59 days left: not yet
    assert not [a for a in early["attention"] if "saknas" in a]
    monkeypatch.setenv("NNS_ATTENTION_DAYS", "60")
    from core.settings import get_settings
    assert [a for a in status_report(get_settings(), date(2026, 10, 2))["attention"] if "saknas" in a]


def test_a_gate_warning_needs_attention(settings):
    record_step(settings, "quality_gate", {"status": "success", "started_at": "2026-11-20T01:00:00+00:00",
                                           "warnings": 2, "page": "publish/quality/gate.html"})
    report = status_report(settings, date(2026, 12, 20))  # no window open
    assert report["attention"] == ["the quality gate gave 2 warning(s): see publish/quality/gate.html"]
    assert "Needs attention: the quality gate gave 2 warning(s)" in render_text(report)


@pytest.fixture
def loaded_mid_window(monkeypatch):
    """Files ingested in this test are recorded as loaded on MID_WINDOW, the day the status is for
    (a status for a day shows no load made after it)."""
    monkeypatch.setattr(ledger, "now_utc", lambda: f"{MID_WINDOW.isoformat()}T08:00:00+00:00")


def test_quarantine_is_sorted_by_federation_and_points_to_the_feedback_page(settings, write_submission,
                                                                           loaded_mid_window):
    pages = {}
    for federation in ("SF30", "SF02", "SF11"):  # SF30's file arrives first: hash order is not the point
        content = sample_content(federation)
        content.respondents["deltagare"][0].gender = "Okänd"
        outcome = steps.ingest_with_feedback(write_submission(f"{federation}_2025-26.xlsx", content), settings)
        assert outcome.status == "rejected"
        pages[federation] = next((settings.feedback / federation).glob("*.html")).relative_to(settings.home)
    report = status_report(settings, MID_WINDOW)
    assert [q["federation_code"] for q in report["quarantined"]] == ["SF02", "SF11", "SF30"]
    assert [q["feedback"] for q in report["quarantined"]] == [str(pages[f]) for f in ("SF02", "SF11", "SF30")]
    assert f"send: {pages['SF02']}" in render_text(report)
    # ... and finds that page without importing the report package (Typst and the charts).
    probe = ("import sys; from operations import cli; cli.main(['status', '--date', '2026-11-20']); "
             "print('imported:', sorted(m for m in sys.modules if m.split('.')[0] in ('report', 'typst')))")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "NNS_HOME": str(settings.home)}).stdout
    assert f"send: {pages['SF02']}" in shown and "imported: []" in shown, shown[-2000:]


def test_entries_refused_in_the_inbox_are_shown_and_need_attention(settings, tmp_path, capsys):
    from ingest.personnummer import format_number
    from tests.unit.test_personnummer_leaks import SECRET

    (settings.inbox / "SF07_2025-26.xlsx").symlink_to(tmp_path / "elsewhere.xlsx")
    (settings.inbox / "register").mkdir()
    os.mkfifo(settings.inbox / "register" / "sus_deltagare_2026-06.csv")
    (settings.inbox / f"SF08_2025-26_{format_number(SECRET, '12-')}.xlsx").write_bytes(b"whatever")
    assert cli.main(["status", "--date", MID_WINDOW.isoformat()]) == 1
    text = capsys.readouterr().out
    assert "Refused in the inbox (never read, nothing recorded; they stay until removed): 3" in text
    for line in ("  inbox/SF07_2025-26.xlsx  (FILE_NOT_REGULAR)",
                 "    why: SF07_2025-26.xlsx är ingen vanlig fil (en symbolisk länk) och lämnas orörd.",
                 "  inbox/SF08_2025-26_[personnummer borttaget].xlsx  (PERSONAL_NUMBER_IN_NAME)",
                 "    do: Byt namn på filen så att det inte innehåller något personnummer och skicka den igen.",
                 "  inbox/register/sus_deltagare_2026-06.csv  (FILE_NOT_REGULAR)",
                 "Needs attention: 3 inbox entries refused and left in the inbox"):
        assert line in text, line
    assert SECRET[2:] not in text.replace("-", "")
    report = status_report(settings, MID_WINDOW)
    assert [r["code"] for r in report["refused"]] == ["FILE_NOT_REGULAR", "PERSONAL_NUMBER_IN_NAME",
                                                      "FILE_NOT_REGULAR"]
    assert not (settings.home / "arrivals").exists(), "status records no sighting"


def test_a_set_aside_submission_needs_attention_and_is_listed(settings):
    r = record(settings, "e", "SF07")
    entry = set_aside.set_aside(settings, r.submission_id[:10], "answers out of range", by="ops")
    assert entry.federation_code == "SF07" and entry.active
    report = status_report(settings, MID_WINDOW)
    assert [e["submission_id"] for e in report["set_aside"]] == [r.submission_id]
    assert any("1 submission(s) set aside" in a for a in report["attention"])
    sf07 = next(f for f in report["federations"] if f["federation_code"] == "SF07")
    assert sf07["state"] == "set aside"
    assert "why: answers out of range  (by ops" in render_text(report)
    set_aside.release(settings, r.submission_id, by="ops")
    assert status_report(settings, MID_WINDOW)["set_aside"] == []
    released = set_aside.read(settings, r.submission_id)
    assert released.state == "released" and released.why == "answers out of range", "the history stays"
    with pytest.raises(set_aside.UnknownSubmission, match="not set aside"):
        set_aside.release(settings, r.submission_id)


def test_set_aside_needs_a_reason_and_a_known_unambiguous_id(settings):
    record(settings, "f", "SF07")
    with pytest.raises(ValueError, match="why"):
        set_aside.set_aside(settings, "f" * 12, "  ")
    with pytest.raises(set_aside.UnknownSubmission, match="at least"):
        set_aside.set_aside(settings, "fff", "why")
    with pytest.raises(set_aside.UnknownSubmission, match="no submission"):
        set_aside.set_aside(settings, "0" * 12, "why")
    record(settings, "ffffffffffff" + "1" * 52, "SF08")
    with pytest.raises(set_aside.UnknownSubmission, match="matches 2"):
        set_aside.set_aside(settings, "ffffffffffff", "why")


# --- the CLI's manners ------------------------------------------------------------------------

def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_and_option_has_a_description_and_exit_codes():
    commands = subcommands()
    assert {"run", "demo", "rerun", "quarantine", "generate", "status", "ingest", "sql"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description, f"nns {name} has no description"
        assert parser.epilog and "exit codes: 0" in parser.epilog, f"nns {name} does not list its exit codes"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"nns {name} {action.option_strings or action.dest} has no help text"


def test_a_period_outside_the_calendar_is_refused(settings, capsys):
    assert cli.main(["status", "--period", "2030/31"]) == cli.EXIT_USAGE
    assert "No collection window for 2030/31" in capsys.readouterr().err
    assert cli.main(["status", "--period", "2025-26", "--date", "2026-11-20"]) in (0, 1)
    assert cli.main(["template", "--period", "2030/31", "--federation", "SF07"]) == cli.EXIT_USAGE


def test_a_closed_pipe_ends_status_quietly(settings):
    for i in range(1, 10):
        record(settings, str(i), f"SF0{i}")
    process = subprocess.Popen([NNS, "status", "--date", "2026-11-20"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "NNS_HOME": str(settings.home)})
    process.stdout.close()  # like `| head` that has read enough
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    shell = subprocess.run(f"'{NNS}' status --date 2026-11-20 | head -1", shell=True, capture_output=True,
                           text=True, env={**os.environ, "NNS_HOME": str(settings.home)}, timeout=60)
    assert shell.stdout.startswith("NNS status 2026-11-20") and shell.stderr == ""


def test_ingest_takes_a_folder(settings, write_submission, tmp_path, capsys):
    folder = tmp_path / "delivery"
    (folder / "more").mkdir(parents=True)
    for i, sub in ((1, ""), (2, "more")):
        path = write_submission(f"SF0{i}_2025-26.xlsx", content=sample_content(f"SF0{i}"))
        path.rename(folder / sub / path.name)
    (folder / ".SF03_2025-26.xlsx.part").write_bytes(b"half")
    assert cli.main(["ingest", str(folder)]) == cli.EXIT_OK, capsys.readouterr()
    names = {r.file_name for r in ledger.all_records(settings)}
    assert names == {"SF01_2025-26.xlsx", "SF02_2025-26.xlsx"}


def test_sql_without_a_data_home_says_how_to_set_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NNS_HOME", str(tmp_path / "nowhere"))
    assert cli.main(["sql", "select 1"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "NNS_HOME" in err and "make demo" not in err


def test_quarantine_command(settings, capsys):
    r = record(settings, "a", "SF07")
    assert cli.main(["quarantine", r.submission_id[:12]]) == cli.EXIT_USAGE  # no --why
    assert cli.main(["quarantine", r.submission_id[:12], "--why", "svar utanför skalan"]) == cli.EXIT_OK
    stored = json.loads(set_aside.record_path(settings, r.submission_id).read_text(encoding="utf-8"))
    assert stored["state"] == "set_aside" and stored["why"] == "svar utanför skalan" and stored["set_aside_at"]
    assert cli.main(["quarantine", "--release", r.submission_id[:12]]) == cli.EXIT_OK
    assert cli.main(["quarantine", "--release", r.submission_id[:12]]) == cli.EXIT_USAGE


# --- the gate page ----------------------------------------------------------------------------

def test_the_gate_page_has_local_time_an_action_per_problem_and_no_mid_word_breaks(tmp_path):
    # Lazy: expectations.gate imports Great Expectations (3.5 s); only this test needs it.
    from expectations.gate import Finding, GateResult, render_page

    bad = "badbadbad0" + "0" * 54
    checks = [
        Finding("landed_survey_answers", "expect_column_values_to_be_between(answer_value)", "critical", False, 1,
                4210, ["SF07"], [{"federation_code": "SF07", "submission_id": bad, "answer_value": "9"}], [bad]),
        Finding("check_volume_change", "expect_column_values_to_be_between(ratio_to_previous)", "warning", False, 2,
                310, ["SF12"]),
        Finding("mart_indicator_results", "expect_column_values_to_be_between(mean_score)", "critical", True, 0, 90),
    ]
    html = render_page(GateResult(False, "2026-11-20T01:14:07+00:00", 41.2, checks, "gate.html"), tmp_path)
    assert "2026-11-20 02:14 CET" in html and "01:14:07" not in html
    assert html.count("<strong>Action:</strong>") == 2, "one action per failure and per warning, none for a pass"
    assert "nns quarantine ID" in html and "Ask the federation whether the drop is real" in html
    assert "badbadbad000" in html
    assert "anywhere" not in html and "break-all" not in html, "no breaks inside a word"
    assert "padding: 28px 32px" in html, "margins"
    assert "be_between(<wbr>answer_value)" in html, "a label breaks between its name and its arguments only"


# --- a full disk ------------------------------------------------------------------------------

def test_a_step_that_fills_the_disk_is_still_recorded_as_failed(settings, monkeypatch):
    import errno

    from operations import build_log

    real_write = build_log.atomic_write_json
    with pytest.raises(OSError), build_log.track(settings, "dbt_build"):
        assert build_log.reserve_path(settings).stat().st_size == build_log.RESERVE_BYTES

        def full(path, payload):  # no space, until the reserve is gone
            if build_log.reserve_path(settings).exists():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real_write(path, payload)

        monkeypatch.setattr(build_log, "atomic_write_json", full)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "warehouse.duckdb")
    entry = build_log.read_build_status(settings)["steps"]["dbt_build"]
    assert entry["status"] == "failed" and "No space left on device" in entry["error"]


def test_a_full_disk_is_a_clear_message_not_a_traceback(settings, monkeypatch, capsys):
    import errno

    def full(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "lake/raw")

    monkeypatch.setattr(cli, "cmd_ingest", full)
    monkeypatch.setattr(cli, "build_parser", lambda real=cli.build_parser: _with(real(), "ingest", full))
    assert cli.main(["ingest"]) == cli.EXIT_PROBLEM
    err = capsys.readouterr().err
    assert "the disk is full" in err and "run the command again" in err


def _with(parser, command, func):
    subcommands_ = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subcommands_.choices[command].set_defaults(func=func)
    return parser


def test_after_the_periods_last_window_a_federation_without_a_file_is_missing(settings):
    record(settings, "a", "SF07")
    states = {day: {f["federation_code"]: f["state"] for f in status_report(settings, day)["federations"]}
              for day in (MID_WINDOW, date(2026, 7, 1), date(2026, 12, 20))}
    assert states[MID_WINDOW]["SF01"] == "waiting" and states[MID_WINDOW]["SF07"] == "received"
    assert states[date(2026, 7, 1)]["SF01"] == "waiting", "2025/26's autumn window is still to come"
    assert states[date(2026, 12, 20)]["SF01"] == "missing" and states[date(2026, 12, 20)]["SF07"] == "received"
    text = render_text(status_report(settings, date(2026, 12, 20)))
    assert "missing (the period's last window has closed)" in text


def test_a_day_in_the_past_shows_no_load_made_after_it(settings):
    early = record(settings, "a", "SF07", received="2026-11-10T08:00:00+00:00")
    late = record(settings, "b", "SF08", status=ledger.REJECTED, received="2026-11-25T08:00:00+00:00")
    report = status_report(settings, MID_WINDOW)
    assert [r["file_name"] for r in report["recent_loads"]] == [early.file_name]
    states = {f["federation_code"]: (f["files"], f["state"]) for f in report["federations"]}
    assert states["SF07"] == (1, "received") and states["SF08"] == (0, "waiting")
    later = status_report(settings, date(2026, 11, 26))
    assert [r["file_name"] for r in later["recent_loads"]] == [late.file_name, early.file_name]
    # A load late in the evening belongs to its local day (CET), not to UTC's.
    record(settings, "c", "SF09", received="2026-11-20T23:30:00+00:00")
    assert "SF09" not in {r["federation_code"] for r in status_report(settings, MID_WINDOW)["recent_loads"]}


def test_an_extract_accepted_with_a_warning_is_shown_to_pass_on(settings):
    extract = ledger.LedgerRecord("d" * 64, ledger.REGISTER_SUS, "sus_deltagare_2026-06.csv",
                                  "2026-11-10T08:00:00+00:00", "2026-11-10T08:00:00+00:00", status=ledger.ACCEPTED,
                                  extract_month="2026-06", rows_ok=9, rows_total=10, warnings=1,
                                  first_problem="DUPLICATE_ROWS_REMOVED: 1 rad(er) är exakta dubbletter …",
                                  raw_path=f"lake/raw/register/{'d' * 64}")
    ledger.write_record(settings, extract)
    report = status_report(settings, MID_WINDOW)
    assert report["registers"]["sus"]["first_warning"].startswith("DUPLICATE_ROWS_REMOVED")
    assert (f"  sus_deltagare_2026-06.csv: 1 warning(s), first: DUPLICATE_ROWS_REMOVED: 1 rad(er) är exakta "
            f"dubbletter … (send it to the agency: lake/raw/register/{'d' * 64}/manifest.json)") in render_text(report)
