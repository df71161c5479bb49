"""Running the real DAGs in-process with embedded Airflow (SQLite metadata).

Used by `make demo`, the end-to-end test and the benchmark: the same DAG files
the scheduler runs, executed with `dag.test()`, against a throw-away metadata
database under the data home.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from core.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
}


def embedded_airflow_env(settings: Settings) -> dict[str, str]:
    airflow_home = settings.airflow_home
    return {
        **TELEMETRY_OFF,
        "NNS_HOME": str(settings.home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }


def prepare(settings: Settings) -> None:
    """Point Airflow at an embedded metadata DB under the data home and migrate it.

    Must run before `airflow` is first imported in this process.
    """
    env = embedded_airflow_env(settings)
    os.environ.update(env)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    if (settings.airflow_home / "airflow.db").exists():
        return  # migrated by an earlier run in this data home
    airflow = Path(sys.executable).with_name("airflow")
    for command in (["db", "migrate"], ["pools", "set", "nns_warehouse", "1", "one DuckDB writer"]):
        result = subprocess.run([str(airflow), *command], env={**os.environ, **env},
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(command)} failed:\n{result.stderr[-2000:]}")


def run_dag(dag_id: str, *, run_after: datetime | None = None, conf: dict | None = None) -> str:
    """Run one DAG to completion with dag.test(); returns the run's state."""
    return run_dag_with_tasks(dag_id, run_after=run_after, conf=conf)[0]


def run_dag_with_tasks(dag_id: str, *, run_after: datetime | None = None,
                       conf: dict | None = None) -> tuple[str, list[dict]]:
    """Run one DAG with dag.test(); returns the run's state and its task instances
    (the fields the REST API gives, so `nns rerun` reports both paths alike)."""
    # Lazy, here and below: Airflow reads its configuration when first imported, so it may only be
    # imported after prepare() has pointed AIRFLOW_HOME and the metadata database at the data home.
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    dag_run = dag.test(run_after=run_after, logical_date=run_after, run_conf=conf or {})
    state = str(getattr(dag_run, "state", dag_run))
    log.info("%s finished: %s", dag_id, state)
    run_id = getattr(dag_run, "run_id", None)
    return state, (task_instances(dag_id, run_id) if run_id else [])


def task_instances(dag_id: str, run_id: str) -> list[dict]:
    # Lazy: see run_dag_with_tasks.
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)).all()
        return sorted(({"task_id": ti.task_id, "map_index": ti.map_index, "rendered_map_index": ti.rendered_map_index,
                        "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                        "hostname": ti.hostname, "start_date": ti.start_date and ti.start_date.isoformat(),
                        "end_date": ti.end_date and ti.end_date.isoformat()} for ti in rows),
                      key=lambda t: (t["task_id"], t["map_index"]))
