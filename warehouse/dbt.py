"""Running dbt: the warehouse step (`dbt build` into warehouse.duckdb).

dbt runs as a subprocess so the DuckDB file is closed when it returns, and the
child dies with its parent, so a killed task leaves no writer behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from core.settings import Settings
from ingest import lake
from warehouse.lock import BuildFailed

log = logging.getLogger(__name__)


def dbt_command(settings: Settings, *args: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    return [str(dbt), *args, "--project-dir", str(settings.dbt_project_dir),
            "--profiles-dir", str(settings.dbt_project_dir)]


def _die_with_parent() -> None:
    """In the dbt child: die when the task process dies (Linux's PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)


def run_dbt(settings: Settings, *args: str) -> str:
    """Run dbt; logs and target artefacts go under the data home, so a read-only checkout works."""
    lake.ensure_lake(settings)
    env = {**os.environ, **settings.dbt_env(),
           "DBT_LOG_PATH": str(settings.logs / "dbt"),
           "DBT_TARGET_PATH": str(settings.dbt_target)}
    command = dbt_command(settings, *args)
    log.info("Running %s", " ".join(command[:2]))
    result = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=_die_with_parent)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        # A line may hold a whole repr'd traceback (dbt's "Encountered an error"): split it, keep what says why.
        lines = [part.strip(" '\"") for line in output.splitlines() for part in line.split("\\n")]
        failing = [line for line in lines if "ERROR" in line or "FAIL" in line]
        # The reasons (dbt prints them after the summary): first, so that the build log's first
        # lines say why, e.g. DuckDB's "IO Error: … No space left on device" on a full disk.
        reasons = list(dict.fromkeys(line for line in lines
                                     if any(k in line for k in ("IO Error", "Out of Memory", "No space left"))))
        raise BuildFailed("dbt " + " ".join(args) + " failed:\n"
                          + "\n".join(reasons[:3] + (failing[-20:] or lines[-20:])))
    log.info(output.strip().splitlines()[-1] if output.strip() else "dbt finished")
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
    if fault not in SEEDED_FAULTS:
        raise ValueError(f"NNS_SEEDED_FAULT must be one of {', '.join(SEEDED_FAULTS)}, got {fault!r}")
    log.warning("NNS_SEEDED_FAULT=%s: corrupting a mart on purpose; the quality gate must refuse it", fault)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(SEEDED_FAULTS[fault])
