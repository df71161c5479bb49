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

from core.catalogue import load_catalogue, parse_period
from core.settings import get_settings
from ingest.register import MissingPseudonymKey
from ingest.template import SubmissionContent, write_workbook
from operations import steps
from operations.rerun import rerun
from operations.status import render_text, status_report
from publication.publish import PublicationRefused
from warehouse.lock import BuildFailed, writer_lock

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


EPILOG = """exit codes: 0 success; 1 the work ran and found a problem (a rejected file, a failed
build, something `nns status` says needs attention); 2 wrong usage or configuration.
The data home is NNS_HOME (default: var/ in the checkout); see .env.example for every setting.
Runbook: docs/operations.md"""


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


def cmd_template(args) -> int:
    settings = get_settings()
    catalogue = load_catalogue(settings.catalogue_dir)
    period = parse_period(args.period)
    if period is None:
        print(f"Not a period: {args.period!r} (use e.g. 2025/26)", file=sys.stderr)
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


def cmd_ingest(args) -> int:
    settings = get_settings()
    if not args.paths:
        steps.tidy_inbox(settings)
    paths = [Path(p) for p in args.paths] or [
        Path(p) for p in steps.files_to_ingest(settings, force=args.force)
        + steps.register_files_to_ingest(settings, force=args.force)]
    missing = [p for p in paths if not p.is_file()]
    if missing:  # before any work, so a typo never leaves half a batch done
        print("No such file: " + ", ".join(map(str, missing)), file=sys.stderr)
        return EXIT_USAGE
    if not paths:
        print(f"Nothing new in {settings.inbox}")
        return EXIT_OK
    rejected = 0
    bar = progress_display()
    with bar or contextlib.nullcontext():
        task = bar.add_task("ingest", total=len(paths)) if bar else None
        for path in paths:
            try:
                outcome = steps.ingest_with_feedback(path, settings, force=args.force)
            except MissingPseudonymKey as exc:
                say(bar, f"nns ingest: {exc}", err=True)
                return EXIT_USAGE
            rejected += outcome.status == "rejected"
            say(bar, outcome.summary())
            if bar:
                bar.advance(task)
    return EXIT_PROBLEM if rejected else EXIT_OK


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
            steps.build_warehouse(settings)
            print(f"Warehouse built: {settings.warehouse}")
            if spinner:
                spinner.update("quality gate (Great Expectations)")
            print(steps.quality_gate(settings).summary())
            if spinner:
                spinner.update("publishing (promoting the gated candidate)")
            print(f"Published: {steps.publish_marts(settings)}")
    except (BuildFailed, GateFailed, PublicationRefused) as exc:  # WriterBusy is a BuildFailed
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def cmd_report(args) -> int:
    settings = get_settings()
    if not (settings.publish / "marts.duckdb").exists():
        print("Nothing published yet: run `nns build` first", file=sys.stderr)
        return EXIT_USAGE
    bar = progress_display()
    with bar or contextlib.nullcontext():
        task = bar.add_task("reports", total=None) if bar else None
        out = steps.write_reports(settings, pdf=not args.html_only,
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
        day = date.fromisoformat(args.date) if args.date else steps.local_date(None, settings)
    except ValueError:
        print(f"Not a date: {args.date!r} (use e.g. 2026-11-20)", file=sys.stderr)
        return EXIT_USAGE
    period = None
    if args.period:
        period = parse_period(args.period)
        if period is None:
            print(f"Not a period: {args.period!r} (use e.g. 2025/26)", file=sys.stderr)
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
    database = settings.warehouse if args.warehouse else settings.publish / "marts.duckdb"
    if not database.exists():
        print(f"No database at {database}: run `nns build` (or `make demo`) first", file=sys.stderr)
        return EXIT_USAGE
    if not args.query:
        duckdb_cli = shutil.which("duckdb")
        if duckdb_cli:
            os.execv(duckdb_cli, [duckdb_cli, "-readonly", str(database)])
        print("Give a query, e.g. nns sql \"select * from indicator_results limit 5\"", file=sys.stderr)
        return EXIT_USAGE
    with duckdb.connect(str(database), read_only=True) as con:
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
    from operations import airflow_local

    settings = get_settings()
    airflow_local.prepare(settings)
    run_after = datetime.fromisoformat(args.run_after) if args.run_after else None
    if run_after and run_after.tzinfo is None:
        run_after = run_after.replace(tzinfo=ZoneInfo(settings.timezone))
    state = airflow_local.run_dag(args.dag_id, run_after=run_after, conf=json.loads(args.conf or "{}"))
    print(f"{args.dag_id}: {state}")
    return EXIT_OK if state.endswith("success") else EXIT_PROBLEM


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
problem), the last loads, the latest register extracts, and the last build
(dbt, quality gate, publication).""", epilog="""\
exit codes: 0 nothing needs attention; 1 a quarantined file awaits action, or the
last build (or its quality gate) failed or was interrupted; 2 wrong usage or no
data home. `--json` prints the same as data, with "attention" and "exit_code".""")
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
rejected (see `nns status`); 2 a path does not exist, or no pseudonym key for a
register extract (nothing is ingested when a path is wrong).""")
    p.add_argument("paths", nargs="*", help="files to ingest (default: new files in the inbox and inbox/register/)")
    p.add_argument("--force", action="store_true",
                   help="reprocess files the ledger has seen (after a contract fix); without paths: "
                        "every file still in the inbox and the latest archived original of every name")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("rerun", help="collect a federation's or a file's submissions again and build "
                                     "(through the deployment's REST API when NNS_AIRFLOW_API_URL is set)",
                       formatter_class=formatter, epilog="""\
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
the same published database.""", epilog="""\
exit codes: 0 built and published; 1 dbt, the gate, the audit or publication failed, or
another build is running (the last published database stays); 2 configuration.""")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("report", help="write the national, popular and federation reports",
                       formatter_class=formatter, description="""\
Reports from the published database into publish/report/: the national report,
the popular version and one feedback report per federation (HTML and PDF).""",
                       epilog="exit codes: 0 written; 2 nothing published yet (run `nns build`).")
    p.add_argument("--html-only", action="store_true", help="skip the PDFs")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sql", help="query the published database read-only",
                       formatter_class=formatter, description="""\
Run one query against publish/marts.duckdb, read-only (without a query: the
duckdb shell, if installed). docs/analysts.md describes every table.""",
                       epilog="exit codes: 0 the query ran; 1 the query failed; 2 no database or no query.")
    p.add_argument("query", nargs="?", help='e.g. "select * from indicator_results limit 5"')
    p.add_argument("--warehouse", action="store_true", help="the working warehouse instead (operators)")
    p.add_argument("--max-rows", type=int, default=40)
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("run", help="run a DAG in-process with embedded Airflow (SQLite)")
    p.add_argument("dag_id", choices=["nns_collect", "nns_registers", "nns_build"])
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
