"""The pipeline's steps as plain functions: what the DAGs call and the CLI runs.

Airflow only orchestrates; every step here can be run and tested without it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest import lake
from ingest.survey import Outcome, inbox_files, ingest_file
from nns.catalogue import load_catalogue
from nns.settings import Settings

log = logging.getLogger(__name__)


class BuildFailed(RuntimeError):
    """dbt (or a later build step) failed; the message says which and why."""


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
    chosen, seen = [], set()
    for path in inbox_files(settings):
        if (file_name and path.name != file_name) or not _for_federation(path.name, federation):
            continue
        sha = lake.sha256_file(path)
        seen.add(sha)
        if force or lake.read_ledger_record(settings, sha) is None:
            chosen.append(str(path))
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
    """A register extract (by its name) or a survey submission."""
    from ingest.register import ingest_register, parse_name

    if parse_name(path.name) is not None or path.parent == settings.inbox / "register":
        return ingest_register(path, settings, force=force)
    return ingest_file(path, settings, force=force)


def submission_label(path: Path, settings: Settings) -> str:
    """The file name an operator knows, also for an archived original (named by its hash)."""
    path = Path(path)
    if path.parent == settings.archive:
        record = lake.read_ledger_record(settings, path.stem)
        if record:
            return record["file_name"]
    return path.name


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
    path = Path(path)
    if path.parent == settings.archive and path.is_file():
        return _reprocess_archived(path, settings)
    if not path.exists():
        record = _latest_record_named(settings, path.name)
        if record is None:
            raise FileNotFoundError(f"{path} is not in the inbox and the ledger knows no file of that name")
        return _restate(record, path.name)
    outcome = ingest_any(path, settings, force=force)
    if outcome.status == "known":
        return _restate(lake.read_ledger_record(settings, outcome.submission_id), path.name)
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
        return ingest_file(named, settings, force=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _latest_record_named(settings: Settings, name: str) -> dict | None:
    records = [r for r in lake.ledger_records(settings) if r.get("file_name") == name]
    return max(records, key=_arrival) if records else None


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
    return [str(p) for p in register_files(settings)
            if (not file_name or p.name == file_name)
            and (force or lake.read_ledger_record(settings, lake.sha256_file(p)) is None)]


def dbt_command(settings: Settings, *args: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    return [str(dbt), *args, "--project-dir", str(settings.dbt_project_dir),
            "--profiles-dir", str(settings.dbt_project_dir)]


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
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        failing = [line for line in output.splitlines() if "ERROR" in line or "FAIL" in line]
        raise BuildFailed("dbt " + " ".join(args) + " failed:\n" + "\n".join(failing[-20:] or output.splitlines()[-20:]))
    log.info(output.strip().splitlines()[-1] if output.strip() else "dbt finished")
    return output


def build_warehouse(settings: Settings) -> str:
    """Seeds, models and data tests, in dependency order: one writer."""
    return run_dbt(settings, "build")


def publish_marts(settings: Settings) -> Path:
    """Protect, audit and atomically swap in publish/marts.duckdb."""
    from nns.publish import publish

    return publish(settings)


def write_reports(settings: Settings, *, pdf: bool = True) -> Path:
    """National report, popular version and federation reports from the published database."""
    from report.build import build_reports

    return build_reports(settings, pdf=pdf)
