"""`make demo`: national-scale synthetic data through the real DAGs, end to end."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import time
from datetime import datetime
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

from core import ledger
from core.catalogue import load_catalogue
from core.settings import get_settings
from expectations.verdict import last_result
from operations.orchestration import embedded
from synthetic import PROFILES, generate

MARKER = ".nns-demo"
ANALYST_QUERY = (
    "select r.period, r.federation_name, r.positive_share, r.national_positive_share, r.status "
    "from indicator_results r where r.indicator_id = 4 and r.respondent_group = 'deltagare' "
    "and r.gender = 'K' and r.federation_code = 'SF07' order by r.period"
)


def _fresh_home(home: Path) -> None:
    if home.exists() and any(home.iterdir()) and not (home / MARKER).exists():
        raise SystemExit(f"{home} holds data that the demo did not create; choose another --home")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / MARKER).write_text("created by nns demo; safe to delete\n")


@contextlib.contextmanager
def _output_to(log_file: Path):
    """Send everything written to stdout/stderr (Airflow's task logs) to a file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def use_throwaway_secrets(run: str) -> list[str]:
    """A throw-away pseudonym key and CKM secret in this process's environment where none is set (for
    a demo or a benchmark run, never production); what was set, as lines to print."""
    said = []
    if not os.environ.get("NNS_PSEUDONYM_KEY") and not os.environ.get("NNS_PSEUDONYM_KEY_FILE"):
        os.environ["NNS_PSEUDONYM_KEY"] = secrets.token_hex(32)
        said.append(f"NNS_PSEUDONYM_KEY is not set: using a throw-away key for this {run} only "
                    "(pseudonyms from this run cannot be linked with any other run).")
    if not os.environ.get("NNS_CKM_SECRET") and not os.environ.get("NNS_CKM_SECRET_FILE"):
        os.environ["NNS_CKM_SECRET"] = secrets.token_hex(32)
        said.append(f"NNS_CKM_SECRET is not set: using a throw-away secret for this {run}'s Cell Key Method "
                    "(its perturbations differ from any other run's).")
    return said


def run_demo(home: Path, profile: str) -> int:
    home = home.resolve()
    _fresh_home(home)
    os.environ["NNS_HOME"] = str(home)
    for line in use_throwaway_secrets("demo"):
        print(line)

    settings = get_settings()
    timings = {}
    started = time.monotonic()
    summary = generate(profile, settings.inbox, settings)
    timings["generate"] = time.monotonic() - started
    surveys = summary["surveys"]
    print(f"Generated the {profile} profile: {surveys['files']} survey files "
          f"({surveys['questionnaires']} questionnaires) in {settings.inbox}")

    # The night after the latest period's main collection window closes.
    latest = PROFILES[profile].periods[-1]
    window = [w for w in load_catalogue(settings.catalogue_dir).windows if w.period == latest][-1]
    run_after = datetime.combine(window.closes_on, clock(1, 30), ZoneInfo(settings.timezone))

    # Freshness is judged as on that night, not today.
    os.environ["NNS_AS_OF"] = run_after.date().isoformat()
    if settings.seeded_fault:
        print(f"NNS_SEEDED_FAULT={settings.seeded_fault}: a mart will be corrupted after dbt; "
              f"the quality gate must refuse to publish it.")

    log_file = settings.logs / "demo-airflow.log"
    print(f"Running nns_collect for the night of {run_after:%Y-%m-%d} (Airflow logs: {log_file}) ...", flush=True)
    step = time.monotonic()
    with _output_to(log_file):
        embedded.prepare(settings)
        collect_state = embedded.run_dag("nns_collect", run_after=run_after)
    timings["nns_collect"] = time.monotonic() - step
    print(f"  {collect_state} in {timings['nns_collect']:.0f} s. Running nns_registers ...", flush=True)
    step = time.monotonic()
    with _output_to(log_file):
        registers_state = embedded.run_dag("nns_registers")
    timings["nns_registers"] = time.monotonic() - step
    print(f"  {registers_state} in {timings['nns_registers']:.0f} s. Running nns_build ...", flush=True)
    step = time.monotonic()
    with _output_to(log_file):
        build_state = embedded.run_dag("nns_build")
    timings["nns_build"] = time.monotonic() - step
    print(f"  {build_state} in {timings['nns_build']:.0f} s.", flush=True)

    everything = ledger.all_records(settings)
    records = [r for r in everything if r.source == ledger.SURVEY]
    rejected = [r for r in records if not r.accepted]
    extracts = [r for r in everything if r.is_register]
    print()
    print(f"nns_collect: {collect_state}; nns_registers: {registers_state}; nns_build: {build_state}")
    print(f"Submissions: {len(records) - len(rejected)} accepted, {len(rejected)} rejected "
          f"(see {settings.quarantine}/<submission_id>/errors.json)")
    for r in rejected[:5]:
        print(f"  {r.file_name}: {r.first_problem}")
    for r in extracts:
        print(f"Register extract {r.file_name}: {r.status}, {r.rows_total} rows"
              + (f" ({r.first_problem})" if not r.accepted else ""))
    gate = last_result(settings)
    if gate:
        print(f"Quality gate: {'passed' if gate['passed'] else 'FAILED, nothing published'} "
              f"({gate['expectations']} expectations, {len(gate['failures'])} blocking failure(s), "
              f"{len(gate['warnings'])} warning(s)); see {settings.quality_docs / 'gate.html'}")
        for finding in gate["failures"]:
            print(f"  FAIL [{finding['suite']}] {finding['expectation']}: {finding['unexpected']} unexpected"
                  + (f" ({', '.join(finding['federations'])})" if finding["federations"] else ""))
    feedback = sorted(settings.feedback.rglob("*.html")) if settings.feedback.exists() else []
    print(f"Feedback:   {len(feedback)} page(s) for rejected files in {settings.feedback}/")
    print(f"Data home:  {settings.home}")
    published = settings.published_database
    print(f"Published:  {published}  " + ("(analysts: read-only, see docs/analysts.md)" if gate and gate["passed"]
                                          else "(NOT updated by this build)" if published.exists() else "(nothing)"))
    print(f"Reports:    {settings.reports}/")
    print("Timings:    " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
          + f", total {time.monotonic() - started:.0f} s")
    print()
    print("Indicator 4 among women in SF07, against the nation (read-only query on the published database):")
    print(f"  NNS_HOME={settings.home} .venv/bin/nns sql \"{ANALYST_QUERY}\"")
    ok = (all(state.endswith("success") for state in (collect_state, registers_state, build_state))
          and extracts and all(r.accepted for r in extracts))
    if settings.seeded_fault:
        caught = gate is not None and not gate["passed"]
        print(f"Seeded fault {settings.seeded_fault}: "
              + ("caught by the quality gate; the previous publication (if any) was left as it was."
                 if caught else "NOT caught by the quality gate."))
        return 1  # the build failed, on purpose or not: scripts must not treat this as a good run
    return 0 if ok else 1
