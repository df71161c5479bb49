"""`nns`: the command line for coordinators, operators and analysts.

Exit codes scripts can trust: 0 success, 1 the work ran and found a problem
(a rejected file, a failed build, something in `nns status` that needs
attention), 2 wrong usage or configuration.

Long work shows progress bars when stdout is a terminal; to a pipe or a log it
prints plain lines only.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import shutil
import sys
from datetime import date, datetime
from importlib.metadata import entry_points
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from api.cubes import open_cubes
from api.export import EXPORT_FORMATS, ExportRefused, export_table
from api.serving import CALLS_PER_WINDOW, TIME_WINDOW
from core import set_aside
from core.catalogue import load_catalogue, parse_period
from core.settings import get_settings
from core.swedish import num
from ingest.inbox import RefusedFile, is_temporary
from ingest.personnummer import redact
from ingest.register import MissingPseudonymKey
from ingest.submission import refused_in_inbox
from ingest.template import SubmissionContent, write_workbook
from ingest.verdict import Verdict, judge
from operations import changes, steps
from operations.rerun import rerun
from operations.status import render_text, status_report
from publication.candidate import PublicationRefused
from publication.reader import ANALYST_SHELL_ARGUMENTS, NotPublished, connect_for_analyst
from warehouse.lock import BuildFailed, writer_lock

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


EPILOG = """exit codes: 0 success; 1 the work ran and found a problem (a rejected file, a failed
build, something `nns status` says needs attention); 2 wrong usage or configuration.
The data home is NNS_HOME (default: var/ in the checkout); see .env.example for every setting.
Runbook: docs/operations.md"""


NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device", as dbt and DuckDB report it


def disk_full_message(settings) -> str:
    free = shutil.disk_usage(settings.home).free if settings.home.exists() else 0
    return (f"nns: the disk is full under {settings.home} ({free / 2**20:.0f} MiB free, {NO_SPACE}). Nothing "
            "half-written is used: the last published database stays, and the failed step is recorded as "
            "failed (nns status). Free some space, then run the command again.")


def progress_display():
    """A progress display on a terminal; None when stdout is a pipe or a log (plain lines only)."""
    if not sys.stdout.isatty():
        return None
    return Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn())


def say(bar, line: str, *, err: bool = False) -> None:
    """A line of output that does not break a progress bar."""
    if bar is not None and not err:
        bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        print(line, file=sys.stderr if err else sys.stdout)


def known_period(given: str, catalogue) -> str | None:
    """A period the calendar has a collection window for, or None after saying why on stderr."""
    period = parse_period(given)
    periods = sorted({w.period for w in catalogue.windows})
    if period is None:
        print(f"Not a period: {given!r} (use e.g. 2025/26)", file=sys.stderr)
        return None
    if period not in periods:
        print(f"No collection window for {period} in the calendar (periods {periods[0]} to {periods[-1]})",
              file=sys.stderr)
        return None
    return period


def cmd_template(args) -> int:
    settings = get_settings()
    catalogue = load_catalogue(settings.catalogue_dir)
    period = known_period(args.period, catalogue)
    if period is None:
        return EXIT_USAGE
    federation = catalogue.federation(args.federation.upper())
    if federation is None or federation not in catalogue.federations_in(period):
        print(f"Federation {args.federation} is not taking part in {period}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out or ".")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{federation.code}_{period.replace('/', '-')}.xlsx"
    write_workbook(path, SubmissionContent(federation.code, period), catalogue)
    print(path)
    return EXIT_OK


def files_in(given: Path) -> list[Path]:
    """A path as given, or for a folder every entry in it and below but folders (sorted), leaving out
    what ingest.inbox.is_temporary calls temporary (hidden names, Excel's `~$` lock files, `.part`
    uploads and the like) in any part of the path. A symlink or a FIFO among them is offered too, so
    that ingest refuses it with its reason instead of skipping it."""
    if not given.is_dir():
        return [given]
    return sorted(p for p in given.rglob("*") if (p.is_symlink() or not p.is_dir())
                  and not any(is_temporary(part) for part in p.relative_to(given).parts))


def cmd_ingest(args) -> int:
    settings = get_settings()
    refused: list[RefusedFile] = []
    if args.paths:
        paths = [file for given in args.paths for file in files_in(Path(given))]
        missing = [p for p in paths if not os.path.lexists(p)]
        if missing:  # before any work, so a typo never leaves half a batch done
            print("No such file: " + ", ".join(redact(str(p)) for p in missing), file=sys.stderr)
            return EXIT_USAGE
    else:
        steps.tidy_inbox(settings)
        paths = [Path(p) for p in steps.files_to_ingest(settings, force=args.force)
                 + steps.register_files_to_ingest(settings, force=args.force)]
        refused = refused_in_inbox(settings)
    for entry in refused:
        print(f"REFUSED {entry}")
    if not paths:
        if not refused:
            print(f"Nothing new in {settings.inbox}")
        return EXIT_PROBLEM if refused else EXIT_OK
    problems = len(refused)
    bar = progress_display()
    with bar or contextlib.nullcontext():
        task = bar.add_task("ingest", total=len(paths)) if bar else None
        for path in paths:
            try:
                outcome = steps.ingest_with_feedback(path, settings, force=args.force)
            except MissingPseudonymKey as exc:
                say(bar, f"nns ingest: {exc}", err=True)
                return EXIT_USAGE
            except (RefusedFile, FileNotFoundError) as exc:  # left where it is; the others go on
                problems += 1
                say(bar, f"REFUSED {exc}")
            else:
                problems += outcome.status == "rejected"
                say(bar, outcome.summary())
            if bar:
                bar.advance(task)
    return EXIT_PROBLEM if problems else EXIT_OK


GROUP_WORDS = {"fel": ("fel", "fel"), "varning": ("anmärkning", "anmärkningar")}


def _count(number: int, severity: str) -> str:
    one, many = GROUP_WORDS[severity]
    return f"{number} {one if number == 1 else many}"


def verdict_lines(verdict: Verdict) -> list[str]:
    """What `nns check` prints for one file, in Swedish (the sender reads it): the outcome, what was
    read, then every problem with where it is, its code, message and what to do, as ingestion words them."""
    who = ", ".join(x for x in (verdict.federation_code, f"mätperiod {verdict.period}" if verdict.period else None)
                    if x)
    read = "; ".join(f"{group} {num(rows)} {'rad' if rows == 1 else 'rader'}"
                     for group, rows in verdict.rows_per_sheet.items())
    if verdict.kind == "register" and verdict.rows_total:
        read = f"{num(verdict.rows_total)} rader"
    facts = "; ".join(x for x in (who, read) if x)
    if verdict.accepted:
        head = f"OK {verdict.file_name}: kan skickas in" + (f" ({facts})" if facts else "")
        head += f", {_count(len(verdict.warnings), 'varning')}."
    else:
        head = (f"FEL {verdict.file_name}: tas inte emot som den är" + (f" ({facts})" if facts else "")
                + f", {_count(len(verdict.errors), 'fel')} och {_count(len(verdict.warnings), 'varning')}.")
    lines = [head]
    for p in (*verdict.errors, *verdict.warnings):
        where = f" ({p.where()})" if p.where() else ""
        lines.append(f"  {GROUP_WORDS[p.severity][0]} {p.code}{where}: {p.message}")
        lines.append(f"      Så rättar ni: {p.action}")
    return lines


def cmd_check(args) -> int:
    """Judge each file as ingestion would, writing nothing (see ingest.verdict)."""
    settings = get_settings()
    paths = [file for given in args.paths for file in files_in(Path(given))]
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        print("No such file: " + ", ".join(redact(str(p)) for p in missing), file=sys.stderr)
        return EXIT_USAGE
    catalogue = load_catalogue(settings.catalogue_dir)
    verdicts = [judge(path, settings, catalogue) for path in paths]
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts], ensure_ascii=False, indent=2))
    else:
        for verdict in verdicts:
            print("\n".join(verdict_lines(verdict)))
        if len(verdicts) > 1:
            good = sum(v.accepted for v in verdicts)
            print(f"{good} av {len(verdicts)} filer kan skickas in.")
    return EXIT_OK if all(v.accepted for v in verdicts) else EXIT_PROBLEM


def cmd_check_server(args) -> int:
    """The check page for federations (check.service), until interrupted."""
    # Lazy: only this command serves the page (and nothing else needs http.server or the page's renderer).
    from check.service import serve

    return serve(get_settings(), host=args.host, port=args.port)


def cmd_rerun(args) -> int:
    return rerun(get_settings(), federation=args.federation, file_name=args.file, force=args.force,
                 build=not args.no_build, timeout=args.timeout)


def cmd_build(args) -> int:
    # Lazy: importing Great Expectations takes 3.5 s, which every other command would pay.
    from expectations.gate import GateFailed

    settings = get_settings()
    spinner = None
    if sys.stdout.isatty():
        spinner = Console().status("dbt build (seeds, models, tests)")
    try:
        # One lock over every step, so no other writer slips in between them.
        with spinner or contextlib.nullcontext(), writer_lock(settings, "nns build"):
            if unchanged := steps.nothing_to_build(settings, full=args.full, data_docs=args.data_docs):
                print(f"Nothing to build, {unchanged}. Published: {settings.published_database} "
                      "(--full builds anyway)")
                return EXIT_OK
            steps.build_warehouse(settings, full=args.full)
            built = changes.read_state(settings).get("built") or {}
            print(f"Warehouse built: {settings.warehouse} ({built.get('selector') or 'everything'}: "
                  f"{'; '.join(built.get('reasons') or [])})")
            if spinner:
                spinner.update("staging the protected candidate (disclosure control)")
            candidate = steps.stage_publication(settings)
            print(f"Staged: {candidate.name} (disclosure control: {candidate.method})")
            if spinner:
                spinner.update("quality gate (Great Expectations)")
            print(steps.quality_gate(settings, data_docs=args.data_docs).summary())
            if spinner:
                spinner.update("publishing (promoting the gated candidate)")
            print(f"Published: {steps.publish_marts(settings)}")
    except (BuildFailed, GateFailed, PublicationRefused) as exc:  # WriterBusy is a BuildFailed
        print(exc, file=sys.stderr)
        if NO_SPACE in str(exc):
            print(disk_full_message(settings), file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def cmd_quarantine(args) -> int:
    settings = get_settings()
    try:
        if args.release:
            entry = set_aside.release(settings, args.submission)
            print(f"Released {entry.submission_id[:12]} ({entry.file_name}): the next build uses it again")
        else:
            if not args.why:
                print("Say why: nns quarantine SUBMISSION --why \"…\"", file=sys.stderr)
                return EXIT_USAGE
            entry = set_aside.set_aside(settings, args.submission, args.why)
            print(f"Set aside {entry.submission_id[:12]} ({entry.file_name}, "
                  f"{' '.join(x for x in (entry.federation_code, entry.period) if x)}): the next build leaves it "
                  f"out; undo with nns quarantine --release {entry.submission_id[:12]}")
    except set_aside.UnknownSubmission as exc:
        print(f"nns quarantine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_report(args) -> int:
    settings = get_settings()
    if not settings.published_database.exists():
        print("Nothing published yet: run `nns build` first", file=sys.stderr)
        return EXIT_USAGE
    bar = progress_display()
    with bar or contextlib.nullcontext():
        task = bar.add_task("reports", total=None) if bar else None
        out = steps.write_reports(settings, pdf=not args.html_only, rewrite_all=args.all,
                            progress=(lambda done, total: bar.update(task, completed=done, total=total))
                            if bar else None)
    print(out)
    return EXIT_OK


def cmd_status(args) -> int:
    settings = get_settings()
    if not settings.home.is_dir():
        print(f"No data home at {settings.home}: set NNS_HOME", file=sys.stderr)
        return EXIT_USAGE
    try:
        day = date.fromisoformat(args.date) if args.date else settings.local_date()
    except ValueError:
        print(f"Not a date: {args.date!r} (use e.g. 2026-11-20)", file=sys.stderr)
        return EXIT_USAGE
    period = None
    if args.period:
        period = known_period(args.period, load_catalogue(settings.catalogue_dir))
        if period is None:
            return EXIT_USAGE
    report = status_report(settings, day, period=period, recent=args.recent)
    code = EXIT_PROBLEM if report["attention"] else EXIT_OK
    if args.json:
        print(json.dumps({**report, "exit_code": code}, indent=2, ensure_ascii=False))
    else:
        print(render_text(report))
    return code


def cmd_sql(args) -> int:
    settings = get_settings()
    # Analysts read the published database; operators may look inside the warehouse.
    database = settings.warehouse if args.warehouse else settings.published_database
    if not settings.home.is_dir():
        print(f"No data home at {settings.home}: set NNS_HOME to the data home, e.g. "
              "`export NNS_HOME=/srv/nns` (see .env.example)", file=sys.stderr)
        return EXIT_USAGE
    if not database.exists():
        print(f"No database at {database}: nothing has been published in this data home yet "
              f"(NNS_HOME={settings.home}); run `nns build` there first", file=sys.stderr)
        return EXIT_USAGE
    if not args.query:
        duckdb_cli = shutil.which("duckdb")
        if duckdb_cli:
            shell = ["-readonly"] if args.warehouse else ANALYST_SHELL_ARGUMENTS
            os.execv(duckdb_cli, [duckdb_cli, *shell, str(database)])
        print("Give a query, e.g. nns sql \"select * from indicator_results limit 5\"", file=sys.stderr)
        return EXIT_USAGE
    # Analysts' SQL reaches the published file only (publication.reader); operators read the warehouse read-only.
    connection = duckdb.connect(str(database), read_only=True) if args.warehouse else connect_for_analyst(database)
    with connection as con:
        try:
            relation = con.sql(args.query)
            if relation is not None:
                relation.show(max_rows=args.max_rows, max_width=200)
        except duckdb.Error as exc:
            print(f"nns sql: {exc}", file=sys.stderr)
            return EXIT_PROBLEM
    return EXIT_OK


def cmd_run(args) -> int:
    """Run a DAG in-process with embedded Airflow (what `make demo` and the tests use)."""
    # Lazy: importing Airflow takes 1.5–6 s, which only this command needs.
    from operations.orchestration import embedded

    settings = get_settings()
    embedded.prepare(settings)
    run_after = datetime.fromisoformat(args.run_after) if args.run_after else None
    if run_after and run_after.tzinfo is None:
        run_after = run_after.replace(tzinfo=ZoneInfo(settings.timezone))
    state = embedded.run_dag(args.dag_id, run_after=run_after, conf=json.loads(args.conf or "{}"))
    print(f"{args.dag_id}: {state}")
    return EXIT_OK if state.endswith("success") else EXIT_PROBLEM


def cmd_serve(args) -> int:
    """The read API (PxWebApi 2.0) over the published database, until interrupted."""
    # Lazy: FastAPI and uvicorn take 0.7 s to import (measured), which only `nns serve` needs.
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    database = settings.published_database
    if not database.exists():
        print(f"No database at {database}: run `nns build` (or `make demo`) first", file=sys.stderr)
        return EXIT_USAGE
    print(f"PxWebApi 2.0 on http://{args.host}:{args.port}/ over {database} (read-only), at most "
          f"{args.calls_per_window} calls per {args.time_window} s from one client")
    try:
        uvicorn.run(create_app(calls_per_window=args.calls_per_window, time_window=args.time_window),
                    host=args.host, port=args.port, log_level="warning", access_log=False)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot listen (the port is taken)
        return EXIT_OK if not exc.code else EXIT_PROBLEM
    return EXIT_OK


def cmd_export(args) -> int:
    settings = get_settings()
    try:
        pub = open_cubes(settings.published_database)
    except NotPublished as exc:
        print(f"nns export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.all == bool(args.table):
        print("nns export: name one TABLE or give --all", file=sys.stderr)
        return EXIT_USAGE
    names = [t.name for t in pub.tables] if args.all else [args.table]
    if args.all and args.format == "px":
        names = pub.cube_ids()  # the tables the API serves (every table with a row key)
    out = Path(args.out or ".")
    for name in names:
        try:
            path = export_table(pub, name, args.format, out, plain=args.plain, contact=settings.contact)
        except ExportRefused as exc:
            print(f"nns export: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(path)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="nns", description=__doc__.splitlines()[0], epilog=EPILOG,
                                     formatter_class=formatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("status", help="collection window, quarantine, last loads and last build at a glance",
                       formatter_class=formatter, description="""\
What an operator checks each morning: the open collection window and each
federation's files in it, quarantined files awaiting action (with their first
problem), entries refused in the inbox (a symlink, a FIFO, a personnummer in the
name), the last loads, the latest register extracts, and the last build (dbt,
quality gate, publication).""", epilog="""\
exit codes: 0 nothing needs attention; 1 a quarantined file awaits action, an
entry was refused in the inbox, or the last build (or its quality gate) failed or
was interrupted; 2 wrong usage or no data home. `--json` prints the same as data, with "attention" and "exit_code".""")
    p.add_argument("--date", help="the day to look at, e.g. 2026-11-20 (default: today, NNS_TIMEZONE)")
    p.add_argument("--period", help="show this period's collection, e.g. 2025/26 (default: the open window's)")
    p.add_argument("--recent", type=int, default=10, help="how many of the last loads to list (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output for scripts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("template", help="write the workbook a federation fills in",
                       formatter_class=formatter, description="""\
The submission workbook for one federation and period, with the questions valid
in that period (see docs/submission_format.md).""",
                       epilog="exit codes: 0 written; 2 unknown period or federation not taking part.")
    p.add_argument("--period", required=True, help="e.g. 2025/26")
    p.add_argument("--federation", required=True, help="e.g. SF07")
    p.add_argument("--out", help="folder (default: current)")
    p.set_defaults(func=cmd_template)

    p = sub.add_parser("ingest", help="ingest files (default: every new file in the inbox)",
                       formatter_class=formatter, description="""\
Identify (SHA-256), archive, validate and land or quarantine each file; register
extracts are pseudonymised. Safe to run again on the same files: a known file is
a no-op ("already ingested").""", epilog="""\
exit codes: 0 every file accepted or already known; 1 at least one file was
rejected, or refused and left where it is (a symlink, a FIFO: one REFUSED line
each, with the reason; see `nns status`); 2 a path does not exist, or no
pseudonym key for a register extract (nothing is ingested when a path is wrong).""")
    p.add_argument("paths", nargs="*", help="files to ingest (default: new files in the inbox and inbox/register/)")
    p.add_argument("--force", action="store_true",
                   help="reprocess files the ledger has seen (after a contract fix); without paths: "
                        "every file still in the inbox and the latest archived original of every name")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("check", help="check files as ingestion would, writing nothing (Swedish feedback)",
                       formatter_class=formatter, description="""\
Judge each file exactly as `nns ingest` would (the same reading, limits, problem
codes and Swedish messages), without writing anything to the data home: no
ledger record, archive copy, lake folder or arrival state. A survey file shows
what was read (federation, period, rows per questionnaire) or every problem with
where it is and what to do; a register extract is checked with a throw-away
pseudonym key. The web page for federations is `nns check-server`.""", epilog="""\
exit codes: 0 every file would be accepted (warnings are shown); 1 at least one
would be rejected or refused; 2 a path does not exist.""")
    p.add_argument("paths", nargs="+", metavar="FILE", help="files or folders to check")
    p.add_argument("--json", action="store_true", help="the verdicts as JSON (problems as errors.json has them)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("check-server", help="serve the check page where federations check a file before sending it",
                       formatter_class=formatter, description="""\
A small web service (Swedish, accessible) where a federation uploads a workbook
or CSV file and sees at once the feedback page a rejected file gets, or "Filen
kan skickas in" with what was read; the period's template is linked from it.
Nothing is stored: an upload lives in memory for the request only. It reads the
catalogue and nothing else of the data home. Limits (upload size, request time,
concurrent checks, checks per client per minute) come from NNS_CHECK_* settings
(docs/deployment.md).""", epilog="exit codes: 0 stopped; 1 could not listen (the port is taken).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8082, help="port (default 8082)")
    p.set_defaults(func=cmd_check_server)

    p = sub.add_parser("rerun", help="collect a federation's or a file's submissions again and build "
                                     "(through the deployment's REST API when NNS_AIRFLOW_API_URL is set)",
                       formatter_class=formatter, description="""\
Collect again what a federation (or one inbox file) sent, then build: through the
deployment's Airflow REST API when NNS_AIRFLOW_API_URL is set (an nns_collect run
with the federation or file as params, then nns_build), else in this process with
embedded Airflow. For a corrected file, or after a contract fix (--force).""", epilog="""\
exit codes: 0 collected (and built); 1 a file was rejected, nothing matched, a run
failed or timed out; 2 wrong usage, no password, the API unreachable or refusing.""")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--federation", help="e.g. SF07")
    which.add_argument("--file", help="one inbox file name, e.g. SF07_2025-26.xlsx")
    p.add_argument("--force", action="store_true", help="reprocess files already loaded (after a contract fix)")
    p.add_argument("--no-build", action="store_true", help="do not wait for (or run) nns_build")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each DAG run (default 1800)")
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("build", help="build the warehouse with dbt, run the quality gate, and publish",
                       formatter_class=formatter, description="""\
`dbt build` (seeds, models, data and unit tests) into warehouse.duckdb, the
quality gate (Great Expectations and the disclosure audits, on the protected
candidate it writes; report in publish/quality/gate.html), then promote exactly
that candidate to publish/marts.duckdb by an atomic rename. One writer at a time:
a second build while one runs stops at once. Idempotent: the same lake gives
the same published database.

Only what changed: with new survey files and no new extract the register models
are not rebuilt, and the reverse (dbt_project/selectors.yml); the gate runs the
suites of what changed since the last publication, and the disclosure audits.
Everything is built with --full, on the night a collection window closes, and
when the dbt project or its settings changed (docs/operations.md, "What a night
rebuilds"). Nothing is built when nothing changed since the last publication
("A night with nothing new").""", epilog="""\
exit codes: 0 built and published, or nothing changed since the last publication; 1 dbt, the gate,
the audit or publication failed, or another build is running (the last published database stays);
2 configuration.""")
    p.add_argument("--full", action="store_true", help="build every model, whatever changed")
    p.add_argument("--data-docs", action="store_true",
                   help="also build Great Expectations' Data Docs (otherwise only when the gate blocks)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("quarantine", help="set a submission aside so the nation is built without it (reversible)",
                       formatter_class=formatter, description="""\
Set an accepted submission aside: it stays in the lake and the ledger, but no
build uses it until it is released. For a file that makes the quality gate fail
(the gate names the federation and the submission): set it aside, run
`nns build`, and the nation is published without it. The record, with who, when
and why, is lake/set_aside/<submission_id>.json; `nns status` lists it.""", epilog="""\
exit codes: 0 set aside (or released); 2 no such submission, an ambiguous id,
no --why, or --release of a submission that is not set aside.""")
    p.add_argument("submission", metavar="SUBMISSION",
                   help=f"the submission id, or its first {set_aside.MIN_PREFIX}+ characters (as nns status shows)")
    p.add_argument("--why", help="the reason, kept with the record (required to set aside)")
    p.add_argument("--release", action="store_true", help="take a set-aside submission back into the builds")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("report", help="write the national, popular and federation reports",
                       formatter_class=formatter, description="""\
Reports from the published database into publish/report/: the national report,
the popular version and one feedback report per federation (HTML and PDF).
A report whose rows in the published database are the same as when it was
written is left as it is (publish/report/manifest.json keeps each report's key).""",
                       epilog="exit codes: 0 written; 2 nothing published yet (run `nns build`).")
    p.add_argument("--html-only", action="store_true", help="skip the PDFs")
    p.add_argument("--all", action="store_true", help="rewrite every report, changed or not")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sql", help="query the published database read-only",
                       formatter_class=formatter, description="""\
Run one query against publish/marts.duckdb, read-only (without a query: the
duckdb shell, if installed). docs/analysts.md describes every table.""",
                       epilog="exit codes: 0 the query ran; 1 the query failed; 2 no database or no query.")
    p.add_argument("query", nargs="?", help='e.g. "select * from indicator_results limit 5"')
    p.add_argument("--warehouse", action="store_true", help="the working warehouse instead (operators)")
    p.add_argument("--max-rows", type=int, default=40, help="rows to show at most (default 40)")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("serve", help="serve the published database over PxWebApi 2.0 (read-only)",
                       formatter_class=formatter, description="""\
The read API analysts use from R's pxweb, Python's pxwebpy or any PxWebApi 2.0
client: /config, /tables, /tables/{id}/metadata, /tables/{id}/data (json-stat2,
csv, xlsx, parquet, px), /codelists/{id}. It reads publish/marts.duckdb read-only
and sees a new build after the swap without a restart (docs/analysts.md).""",
                       epilog="exit codes: 0 stopped; 1 could not listen (the port is taken); 2 nothing published yet.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8081, help="port (default 8081)")
    p.add_argument("--calls-per-window", type=int, default=CALLS_PER_WINDOW, metavar="N",
                   help=f"the rate limit: calls from one client per window (default {CALLS_PER_WINDOW}; /config "
                        "says maxCallsPerTimeWindow, and a call over it gets 429)")
    p.add_argument("--time-window", type=int, default=TIME_WINDOW, metavar="SECONDS",
                   help=f"the rate limit's window in seconds (default {TIME_WINDOW}; /config says timeWindow)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="write published tables as csv, xlsx, parquet or px files",
                       formatter_class=formatter, description="""\
csv is Swedish Excel's dialect (; decimal comma, UTF-8 with BOM, .. in a
suppressed cell) unless --plain (comma, decimal point, no BOM, empty cells and
the status column). xlsx has a header row, a units row and a sheet explaining
... parquet keeps the database's types. px is PC-Axis, as the read API serves it.
Every format is described in docs/analysts.md.""",
                       epilog="exit codes: 0 written; 2 no such table, px of a table without a row key, "
                              "or nothing published.")
    p.add_argument("table", nargs="?", help="e.g. indicator_results")
    p.add_argument("--all", action="store_true", help="every published table")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="csv", help="default csv")
    p.add_argument("--plain", action="store_true", help="csv for programs instead of Swedish Excel")
    p.add_argument("--out", help="folder (default: current)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("run", help="run a DAG in-process with embedded Airflow (SQLite)",
                       formatter_class=formatter, description="""\
Run one of the product's DAGs once, in this process, with Airflow's dag.test() on
an embedded SQLite metadata database under the data home: what `make demo` and
the tests use, and a way to replay a night without a deployment.""", epilog="""\
exit codes: 0 the DAG run succeeded; 1 the DAG
run failed; 2 wrong usage or configuration.""")
    p.add_argument("dag_id", choices=["nns_collect", "nns_registers", "nns_build"],
                   help="the DAG: nns_collect (surveys), nns_registers (extracts) or nns_build")
    p.add_argument("--run-after", help="the run's date-time, e.g. 2026-11-20T01:30 (local time)")
    p.add_argument("--conf", help="run params as JSON, e.g. '{\"federation\": \"SF07\"}'")
    p.set_defaults(func=cmd_run)

    for plugin in entry_points(group="nns.commands"):  # e.g. `generate` and `demo` from synthetic/
        plugin.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The CLI itself; the console script `nns` starts it through `operations.entry`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ValueError as exc:  # configuration errors from the settings
        print(f"nns: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`nns status | head`): stop quietly. Point stdout at /dev/null so
        # the interpreter's last flush does not fail again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(disk_full_message(get_settings()), file=sys.stderr)
        return EXIT_PROBLEM
