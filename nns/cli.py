"""`nns`: the command line for coordinators, operators and analysts.

Exit codes scripts can trust: 0 success, 1 the work ran and found a problem
(a rejected file, a failed build), 2 wrong usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def _settings():
    from nns.settings import get_settings

    return get_settings()


def cmd_generate(args) -> int:
    from nns.generate import generate

    settings = _settings()
    out = Path(args.out) if args.out else settings.inbox
    started = time.monotonic()
    summary = generate(args.profile, out, settings, seed=args.seed, registers=not args.surveys_only)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_template(args) -> int:
    from nns.catalogue import load_catalogue, parse_period
    from nns.workbook import SubmissionContent, write_workbook

    settings = _settings()
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
    from ingest.register import MissingPseudonymKey
    from nns.pipeline import files_to_ingest, ingest_path, register_files_to_ingest

    settings = _settings()
    paths = [Path(p) for p in args.paths] or [
        Path(p) for p in files_to_ingest(settings, force=args.force)
        + register_files_to_ingest(settings, force=args.force)]
    rejected = 0
    for path in paths:
        if not path.is_file():
            print(f"No such file: {path}", file=sys.stderr)
            return EXIT_USAGE
        try:
            outcome = ingest_path(path, settings, force=args.force)
        except MissingPseudonymKey as exc:
            print(f"nns ingest: {exc}", file=sys.stderr)
            return EXIT_USAGE
        rejected += outcome.status == "rejected"
        print(outcome.summary())
    return EXIT_PROBLEM if rejected else EXIT_OK


def cmd_rerun(args) -> int:
    from nns.rerun import rerun

    return rerun(_settings(), federation=args.federation, file_name=args.file, force=args.force,
                 build=not args.no_build, timeout=args.timeout)


def cmd_build(args) -> int:
    from nns.pipeline import BuildFailed, build_warehouse, publish_marts
    from nns.publish import PublicationRefused

    settings = _settings()
    try:
        build_warehouse(settings)
        print(f"Warehouse built: {settings.warehouse}")
        print(f"Published: {publish_marts(settings)}")
    except (BuildFailed, PublicationRefused) as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def cmd_report(args) -> int:
    from nns.pipeline import write_reports

    settings = _settings()
    if not (settings.publish / "marts.duckdb").exists():
        print("Nothing published yet: run `nns build` first", file=sys.stderr)
        return EXIT_USAGE
    print(write_reports(settings, pdf=not args.html_only))
    return EXIT_OK


def cmd_sql(args) -> int:
    import duckdb

    settings = _settings()
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
    from nns import airflow_local

    settings = _settings()
    airflow_local.prepare(settings)
    run_after = datetime.fromisoformat(args.run_after) if args.run_after else None
    if run_after and run_after.tzinfo is None:
        run_after = run_after.replace(tzinfo=ZoneInfo(settings.timezone))
    state = airflow_local.run_dag(args.dag_id, run_after=run_after, conf=json.loads(args.conf or "{}"))
    print(f"{args.dag_id}: {state}")
    return EXIT_OK if state.endswith("success") else EXIT_PROBLEM


def cmd_demo(args) -> int:
    from nns.demo import run_demo

    return run_demo(Path(args.home), args.profile)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nns", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write seeded synthetic submissions and register extracts")
    p.add_argument("--profile", choices=["small", "national", "x10"], default="small")
    p.add_argument("--out", help="folder to write into (default: the inbox)")
    p.add_argument("--seed", type=int, default=20251101)
    p.add_argument("--surveys-only", action="store_true", help="skip the register extracts")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("template", help="write the workbook a federation fills in")
    p.add_argument("--period", required=True, help="e.g. 2025/26")
    p.add_argument("--federation", required=True, help="e.g. SF07")
    p.add_argument("--out", help="folder (default: current)")
    p.set_defaults(func=cmd_template)

    p = sub.add_parser("ingest", help="ingest files (default: every new file in the inbox)")
    p.add_argument("paths", nargs="*")
    p.add_argument("--force", action="store_true",
                   help="reprocess files the ledger has seen (after a contract fix); without paths: "
                        "every file still in the inbox and the latest archived original of every name")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("rerun", help="collect a federation's or a file's submissions again and build "
                                     "(through the deployment's REST API when NNS_AIRFLOW_API_URL is set)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--federation", help="e.g. SF07")
    which.add_argument("--file", help="one inbox file name, e.g. SF07_2025-26.xlsx")
    p.add_argument("--force", action="store_true", help="reprocess files already loaded (after a contract fix)")
    p.add_argument("--no-build", action="store_true", help="do not wait for (or run) nns_build")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each DAG run (default 1800)")
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("build", help="build the warehouse with dbt and publish the analyst database")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("report", help="write the national, popular and federation reports")
    p.add_argument("--html-only", action="store_true", help="skip the PDFs")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sql", help="query the published database read-only")
    p.add_argument("query", nargs="?")
    p.add_argument("--warehouse", action="store_true", help="the working warehouse instead (operators)")
    p.add_argument("--max-rows", type=int, default=40)
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("run", help="run a DAG in-process with embedded Airflow (SQLite)")
    p.add_argument("dag_id", choices=["nns_collect", "nns_registers", "nns_build"])
    p.add_argument("--run-after", help="the run's date-time, e.g. 2026-11-20T01:30 (local time)")
    p.add_argument("--conf", help="run params as JSON, e.g. '{\"federation\": \"SF07\"}'")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="generate national data into a fresh data home and run the pipeline")
    p.add_argument("--home", default=str(Path(__file__).resolve().parent.parent / "var" / "demo"))
    p.add_argument("--profile", choices=["small", "national", "x10"], default="national")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ValueError as exc:  # configuration errors from the settings
        print(f"nns: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
