"""The pipeline's steps as plain functions: what the DAGs call and the CLI runs.

Airflow only orchestrates; every step here can be run and tested without it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest import lake
from ingest.survey import Outcome, inbox_files, ingest_file
from nns.catalogue import load_catalogue
from nns.settings import Settings
from nns.status import track

log = logging.getLogger(__name__)


class BuildFailed(RuntimeError):
    """dbt (or a later build step) failed; the message says which and why."""


class WriterBusy(BuildFailed):
    """Another process is building the warehouse or publishing right now."""


_held: set[Path] = set()  # writer locks this process holds (so `nns build` can hold one across both steps)


@contextmanager
def writer_lock(settings: Settings, step: str):
    """One writer of warehouse.duckdb and publish/ at a time, whoever starts it.

    Airflow's one-slot pool already serialises the DAG's writers; this lock also
    covers a hand-run `nns build` and a pool set up wrongly. It is an flock, so the
    kernel releases it when the holder dies, even by SIGKILL: no stale locks.
    Re-entrant within a process.
    """
    path = settings.home / "status" / "writer.lock"
    if path in _held:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip() or "unknown"
            raise WriterBusy(f"Another build is writing now ({holder}); {step} did not start. "
                             f"Wait for it to finish (nns status), then run again.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"step": step, "pid": os.getpid(), "host": socket.gethostname(),
                                  "since": lake.now_utc()}).encode(), 0)
        _held.add(path)
        try:
            yield
        finally:
            _held.discard(path)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def local_date(moment: datetime | None, settings: Settings) -> date:
    moment = moment or datetime.now(ZoneInfo("UTC"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(settings.timezone)).date()


def should_collect(settings: Settings, run_after: datetime | None, *, ignore_calendar: bool = False) -> bool:
    """The nightly run only works inside a collection window (the calendar seed)."""
    if ignore_calendar:
        log.info("Collection calendar ignored on request")
        return True
    day = local_date(run_after, settings)
    window = load_catalogue(settings.catalogue_dir).open_window(day)
    if window is None:
        log.info("No collection window is open on %s: nothing to collect", day)
        return False
    log.info("Collection window %s %s is open (%s – %s)", window.period, window.name,
             window.opens_on, window.closes_on)
    return True


def _for_federation(name: str, federation: str | None) -> bool:
    return not federation or name.upper().startswith(f"{federation.upper()}_")


def files_to_ingest(settings: Settings, *, federation: str | None = None, file_name: str | None = None,
                    force: bool = False) -> list[str]:
    """New inbox files (bytes the ledger has not seen), optionally narrowed by an operator.

    With `force` (reprocess after a contract fix) also files the ledger has seen: those
    still in the inbox, and for each name that left it the latest submission under that
    name, read from the archive (`ingest_path` gives it back its name).
    """
    lake.ensure_lake(settings)
    for leftover in lake.sweep_temporaries(settings):
        log.info("Removed %s, left by an interrupted write", leftover)
    chosen, seen = [], set()
    for path in inbox_files(settings):
        if (file_name and path.name != file_name) or not _for_federation(path.name, federation):
            continue
        sha = lake.sha256_file(path)
        seen.add(sha)
        if force or lake.read_ledger_record(settings, sha) is None:
            chosen.append(str(path))
        else:
            # Committed to the ledger, but the run stopped before the file left the inbox.
            ingest_file(path, settings)
    if force:
        latest: dict[str, dict] = {}
        for record in lake.ledger_records(settings):
            name = record["file_name"]
            if (record.get("source") != "survey" or record["submission_id"] in seen
                    or (file_name and name != file_name) or not _for_federation(name, federation)):
                continue
            if name not in latest or _arrival(record) > _arrival(latest[name]):
                latest[name] = record
        chosen += [str(settings.home / r["archive_path"]) for r in sorted(latest.values(), key=_arrival)]
    log.info("%d file(s) to ingest from %s%s", len(chosen), settings.inbox, " (forced)" if force else "")
    return chosen


def _arrival(record: dict) -> tuple:
    return record.get("received_at") or "", record.get("ingested_at") or ""


def ingest_any(path: Path, settings: Settings, *, force: bool = False) -> Outcome:
    """A register extract (by its name) or a survey submission; a rejected survey file gets its
    Swedish feedback page for the federation (report/feedback.py)."""
    from ingest.register import ingest_register, parse_name

    if parse_name(path.name) is not None or path.parent == settings.inbox / "register":
        return ingest_register(path, settings, force=force)
    outcome = ingest_file(path, settings, force=force)
    if outcome.status == "rejected":
        from report.feedback import write_feedback

        log.info("Feedback for the sender: %s", write_feedback(settings, outcome.submission_id))
    return outcome


def submission_label(path: Path, settings: Settings) -> str:
    """The file name an operator knows, also for an archived original (named by its hash)."""
    from ingest.personnummer import redact

    path = Path(path)
    if path.parent == settings.archive:
        record = lake.read_ledger_record(settings, path.stem)
        if record:
            return redact(record["file_name"])
    return redact(path.name)  # a task label is shown and stored by Airflow


def ingest_path(path: Path, settings: Settings, *, force: bool = False) -> Outcome:
    """What one mapped ingest task does with its path, safe to run again at any time.

    - the file is there: ingest it (a corrected file under the same name is new bytes);
    - it is an archived original (a forced reprocess): ingest it under its original name
      and arrival time, so the lake ends up as one fresh ingest of those bytes would leave it;
    - it has left the inbox (the task is cleared after it ran): report what the ledger
      says about the latest file of that name, without touching the lake.
    Known bytes are reported as the ledger has them: a rejected file stays "rejected"
    until corrected bytes arrive, so a task succeeds exactly when its file is accepted.
    """
    from ingest.personnummer import redact

    path = Path(path)
    name = redact(path.name)  # the ledger keeps names with any personnummer masked
    if path.parent == settings.archive and path.is_file():
        return _reprocess_archived(path, settings)
    if not path.exists():
        from ingest.register import parse_name

        is_register = parse_name(path.name) is not None or path.parent == settings.inbox / "register"
        record = lake.last_record_named(settings, name, register=is_register)
        if record is None:
            raise FileNotFoundError(f"{redact(str(path))} is not in the inbox and the ledger knows no file "
                                    "of that name")
        return _restate(record, name)
    outcome = ingest_any(path, settings, force=force)
    if outcome.status == "known":
        return _restate(lake.read_ledger_record(settings, outcome.submission_id), name)
    return outcome


def _reprocess_archived(path: Path, settings: Settings) -> Outcome:
    import shutil
    import tempfile

    record = lake.read_ledger_record(settings, path.stem)
    if record is None:
        raise FileNotFoundError(f"{path} is in the archive but not in the ledger")
    # A hard link under the original name keeps the bytes and the modification time
    # (the arrival time), outside the inbox so ingest leaves it where it is.
    work = Path(tempfile.mkdtemp(dir=settings.lake, prefix=".reprocess."))
    try:
        named = work / record["file_name"]
        try:
            os.link(path, named)
        except OSError:
            shutil.copy2(path, named)
        return ingest_any(named, settings, force=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _restate(record: dict, name: str) -> Outcome:
    status = "rejected" if record.get("status") == "rejected" else "known"
    return Outcome(record["submission_id"], name, status, record.get("federation_code"),
                   record.get("period") or record.get("extract_month"), record.get("rows_ok", 0),
                   record.get("errors", 0), record.get("warnings", 0), record.get("first_problem"))


def register_files_to_ingest(settings: Settings, *, file_name: str | None = None, force: bool = False) -> list[str]:
    """Register extracts waiting in inbox/register/ whose bytes the ledger has not seen.

    With `force` also known ones: a rejected extract stays in the inbox, so after a
    contract fix it can be loaded as it is (an accepted one has left the inbox for good).
    """
    from ingest.register import register_files

    lake.ensure_lake(settings)
    chosen = []
    for path in register_files(settings):
        if file_name and path.name != file_name:
            continue
        record = lake.read_ledger_record(settings, lake.sha256_file(path))
        if record is None or force:
            chosen.append(str(path))
        elif record["status"] == "accepted":
            path.unlink()  # loaded, but the run stopped before the extract left the inbox
    return chosen


def dbt_command(settings: Settings, *args: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    return [str(dbt), *args, "--project-dir", str(settings.dbt_project_dir),
            "--profiles-dir", str(settings.dbt_project_dir)]


def _die_with_parent() -> None:
    """In the dbt child: die when the task process dies, so a killed task leaves no writer behind."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_dbt(settings: Settings, *args: str) -> str:
    """Run dbt as a subprocess so the DuckDB file is closed when it returns.

    Logs and target artefacts go under the data home, so a read-only checkout works.
    """
    lake.ensure_lake(settings)
    env = {**os.environ, **settings.dbt_env(),
           "DBT_LOG_PATH": str(settings.home / "logs" / "dbt"),
           "DBT_TARGET_PATH": str(settings.home / "dbt_target")}
    command = dbt_command(settings, *args)
    log.info("Running %s", " ".join(command[:2]))
    result = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=_die_with_parent)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        failing = [line for line in output.splitlines() if "ERROR" in line or "FAIL" in line]
        raise BuildFailed("dbt " + " ".join(args) + " failed:\n" + "\n".join(failing[-20:] or output.splitlines()[-20:]))
    log.info(output.strip().splitlines()[-1] if output.strip() else "dbt finished")
    return output


def build_warehouse(settings: Settings) -> str:
    """Seeds, models and data tests, in dependency order: one writer."""
    with writer_lock(settings, "dbt_build"), track(settings, "dbt_build"):
        output = run_dbt(settings, "build")
        if settings.seeded_fault:
            inject_fault(settings, settings.seeded_fault)
        return output


# Deliberate corruptions of a mart, to show the quality gate refusing publication
# (NNS_SEEDED_FAULT; see the README). Each breaks one blocking expectation.
SEEDED_FAULTS = {
    "share_out_of_range": """
        update marts.indicator_results set positive_share = 1.7
        where rowid = (select min(rowid) from marts.indicator_results
                       where federation_code <> 'RIKET' and positive_share is not null)""",
    "national_total_off": """
        update marts.indicator_results set n = n + 1
        where federation_code = 'RIKET' and period = (select max(period) from marts.indicator_results)""",
}


def inject_fault(settings: Settings, fault: str) -> None:
    import duckdb

    if fault not in SEEDED_FAULTS:
        raise ValueError(f"NNS_SEEDED_FAULT must be one of {', '.join(SEEDED_FAULTS)}, got {fault!r}")
    log.warning("NNS_SEEDED_FAULT=%s: corrupting a mart on purpose; the quality gate must refuse it", fault)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(SEEDED_FAULTS[fault])


def quality_gate(settings: Settings):
    """Run the GX suites on the landed data, the marts and the candidate publication.

    Raises expectations.gate.GateFailed (nothing may be published) on a blocking failure.
    """
    from expectations.gate import run_gate

    # It reads the warehouse and swaps publish/quality: a writer like the others.
    with writer_lock(settings, "quality_gate"), track(settings, "quality_gate") as result:
        gate = run_gate(settings, raise_on_failure=False)
        result.update(passed=gate.passed, expectations=gate.expectations, failures=len(gate.failures),
                      warnings=len(gate.warnings), page=str(Path(gate.docs).relative_to(settings.home)))
        if not gate.passed:
            from expectations.gate import GateFailed

            raise GateFailed(gate.summary())
        return gate


def publish_marts(settings: Settings) -> Path:
    """Protect, audit and atomically swap in publish/marts.duckdb."""
    from nns.checksum import published_checksum
    from nns.publish import publish

    with writer_lock(settings, "publish"), track(settings, "publish") as result:
        # Staging files of a killed publication (never read by anyone); safe to drop under the lock.
        for leftover in settings.publish.glob(".marts-*.duckdb*"):
            leftover.unlink(missing_ok=True)
        path = publish(settings)
        result.update(path=str(path.relative_to(settings.home)), checksum=published_checksum(path))
        return path


def write_reports(settings: Settings, *, pdf: bool = True, progress=None) -> Path:
    """National report, popular version and federation reports from the published database."""
    from report.build import build_reports

    return build_reports(settings, pdf=pdf, progress=progress)
