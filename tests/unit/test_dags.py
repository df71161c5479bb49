"""DAG integrity: the DAG files import cleanly, stay thin, and are wired as designed."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from core.settings import REPO_ROOT

DAGS = REPO_ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"nns_collect", "nns_registers", "nns_build"}


def test_dag_files_are_thin():
    for path in DAGS.glob("*.py"):
        lines = path.read_text().splitlines()
        assert len(lines) <= 100, f"{path.name} has {len(lines)} lines: move logic into a package"


def test_collect_is_nightly_in_stockholm_and_maps_one_task_per_file(dagbag):
    from airflow.sdk import CronTriggerTimetable

    dag = dagbag.dags["nns_collect"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("30 1 * * *", "Europe/Stockholm")
    assert dag.max_active_runs == 1 and not dag.catchup
    ingest = dag.get_task("ingest")
    assert ingest.map_index_template == "{{ submission_label }}"
    # No file waiting: new_files skips ingest and announce at once (no asset event, no build).
    assert dag.get_task("new_files").ignore_downstream_trigger_rules is True
    # No file waiting: new_files skips ingest and announce at once (no asset event, no build).
    assert dag.get_task("new_files").ignore_downstream_trigger_rules is True
    announce = dag.get_task("announce")
    assert announce.trigger_rule == "all_done", "one bad file must not stop the others' asset event"
    assert [o.uri for o in announce.outlets] == ["nns://lake/survey"]
    assert set(dag.params.keys()) == {"federation", "file", "ignore_calendar", "force"}
    assert dag.params["force"] is False, "reprocessing known files only on request"


def test_build_runs_on_the_asset_with_one_writer(dagbag):
    dag = dagbag.dags["nns_build"]
    assert dag.max_active_runs == 1
    assert "nns://lake/survey" in str(dag.timetable.asset_condition)
    assert "nns://lake/register" in str(dag.timetable.asset_condition)
    assert {dag.get_task(t).pool for t in ("plan", "dbt_build", "stage", "quality_gate", "publish")} == {
        "nns_warehouse"}
    # A night with nothing new: the plan skips every later task at once.
    assert dag.get_task("dbt_build").upstream_task_ids == {"plan"}
    assert dag.get_task("plan").ignore_downstream_trigger_rules is True
    # Stage → gate → promote: the gate judges what staging wrote, and a failed gate publishes nothing.
    assert dag.get_task("stage").upstream_task_ids == {"dbt_build"}
    assert dag.get_task("quality_gate").upstream_task_ids == {"stage"}
    assert dag.get_task("publish").upstream_task_ids == {"quality_gate"}
    assert dag.get_task("reports").upstream_task_ids == {"publish"}


def test_build_takes_the_cli_options_as_params_off_by_default(dagbag, monkeypatch):
    """A night triggered by an asset builds only what changed; an operator can ask for more."""
    from operations import steps
    from operations.orchestration import tasks

    params = dagbag.dags["nns_build"].params
    assert {name: params[name] for name in params} == {"full": False, "data_docs": False, "all_reports": False}
    called = {}
    monkeypatch.setattr(steps, "build_warehouse", lambda settings, full: called.update(full=full))
    monkeypatch.setattr(steps, "write_reports", lambda settings, rewrite_all: called.update(rewrite_all=rewrite_all))
    monkeypatch.setattr(steps, "nothing_to_build", lambda settings, **asked: called.update(plan=asked))
    tasks.anything_to_build({"full": False, "data_docs": True, "all_reports": True})
    tasks.build_warehouse({"full": True})
    tasks.reports({"all_reports": True})
    assert called == {"plan": {"full": False, "data_docs": True, "all_reports": True}, "full": True,
                      "rewrite_all": True}


@pytest.mark.parametrize("moment, expected", [
    (datetime(2026, 11, 22, 0, 30, tzinfo=UTC), True),  # inside the autumn window
    (datetime(2026, 7, 1, 0, 30, tzinfo=UTC), False),  # summer: no window
    # 23:30 UTC on 30 Nov is already 1 Dec in Stockholm, after the window closed.
    (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), False),
    (datetime(2026, 11, 30, 21, 30, tzinfo=UTC), True),
])
def test_calendar_decides_whether_to_collect(settings, moment, expected):
    from operations.steps import should_collect

    assert should_collect(settings, moment) is expected
    assert should_collect(settings, moment, ignore_calendar=True) is True


def test_registers_is_triggered_by_hand_and_emits_its_asset(dagbag):
    dag = dagbag.dags["nns_registers"]
    assert type(dag.timetable).__name__ == "NullTimetable", "manual trigger only"
    # No extract waiting: new_extracts skips ingest and announce at once (no asset event, no build).
    assert dag.get_task("new_extracts").ignore_downstream_trigger_rules is True
    announce = dag.get_task("announce")
    assert [o.uri for o in announce.outlets] == ["nns://lake/register"]
    assert dag.get_task("ingest").map_index_template == "{{ extract_label }}"
    assert set(dag.params.keys()) == {"file", "force"} and dag.params["force"] is False


def test_the_warehouse_pool_has_one_slot_in_every_deployment():
    """Embedded Airflow (the demo and the tests) and docker-compose both make the pool with one slot."""
    import inspect

    from operations.orchestration import embedded

    assert '["pools", "set", "nns_warehouse", "1",' in inspect.getsource(embedded.prepare)
    assert "airflow pools set nns_warehouse 1 " in (REPO_ROOT / "docker-compose.yml").read_text()
