"""`nns generate` and `nns demo`: the synthetic-data tools, plugged into the product's CLI.

The product does not import this package: pyproject.toml registers `register`
under the entry-point group `nns.commands`, and `operations.cli` adds every
command registered there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from core.settings import REPO_ROOT, get_settings
from operations.cli import EXIT_OK, progress_display
from synthetic import generate


def cmd_generate(args) -> int:
    settings = get_settings()
    out = Path(args.out) if args.out else settings.inbox
    started = time.monotonic()
    bar = progress_display()
    with bar or contextlib.nullcontext():
        phases = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in phases:
                phases[phase] = bar.add_task(phase, total=total)
            bar.update(phases[phase], completed=done, total=total)

        summary = generate(args.profile, out, settings, seed=args.seed, registers=not args.surveys_only,
                           progress=progress if bar else None)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_demo(args) -> int:
    # Lazy: the demo imports Airflow and Great Expectations (5 s and more), and this module is
    # loaded whenever `nns` builds its parser.
    from synthetic.demo import run_demo

    return run_demo(Path(args.home), args.profile)


def register(sub: argparse._SubParsersAction) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("generate", help="write seeded synthetic submissions and register extracts",
                       formatter_class=formatter, description="""\
Synthetic survey workbooks/CSV files (some resubmitted, some with mistakes) and
SUS and income extracts with valid personnummer, for tests and demos. The same
seed gives the same bytes.""", epilog="exit codes: 0 written; 2 wrong usage.")
    p.add_argument("--profile", choices=["small", "national", "x10", "bad"], default="small",
                   help="bad: the bad-input corpus (faulty and tricky files, manifest in .corpus.json)")
    p.add_argument("--out", help="folder to write into (default: the inbox)")
    p.add_argument("--seed", type=int, default=20251101, help="the random seed (the same seed, the same bytes)")
    p.add_argument("--surveys-only", action="store_true", help="skip the register extracts")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="generate national data into a fresh data home and run the pipeline",
                       formatter_class=formatter, description="""\
What `make demo` runs: wipe and re-create the demo's data home (only a folder the
demo created), generate a profile, and run nns_collect, nns_registers and
nns_build through embedded Airflow.""", epilog="exit codes: 0 the pipeline ran and published; 1 a DAG run "
                       "failed; 2 the folder exists and was not made by the demo.")
    p.add_argument("--home", default=str(REPO_ROOT / "var" / "demo"), help="the demo's data home (default var/demo)")
    p.add_argument("--profile", choices=["small", "national", "x10"], default="national",
                   help="how much data (default national)")
    p.set_defaults(func=cmd_demo)
