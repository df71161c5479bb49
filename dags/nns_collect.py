"""nns_collect: nightly, inside collection windows, one mapped task per new inbox file."""

from datetime import datetime

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from operations.orchestration import tasks
from operations.orchestration.assets import DEFAULT_ARGS, SURVEYS_LANDED


@dag(
    schedule=CronTriggerTimetable("30 1 * * *", timezone="Europe/Stockholm"),
    start_date=datetime(2016, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nns", "ingest"],
    params={
        "federation": Param(None, type=["null", "string"], description="Only this federation's files, e.g. SF07"),
        "file": Param(None, type=["null", "string"], description="Only this inbox file name"),
        "ignore_calendar": Param(False, type="boolean", description="Collect even outside a window"),
        "force": Param(False, type="boolean",
                       description="Reprocess files the ledger has seen (after a contract fix)"),
    },
    doc_md=__doc__,
)
def nns_collect():
    @task.short_circuit
    def collection_window_open(params=None, dag_run=None) -> bool:
        return tasks.collection_window_open(dag_run.run_after, params)

    # An empty list skips ingest and announce at once: a night with nothing new ends here.
    @task.short_circuit
    def new_files(params=None) -> list[str]:
        return tasks.new_survey_files(params)

    # multiple_outputs=False: a dict return would otherwise be pushed as one XCom per key
    # as well, about ten extra API round trips per file.
    @task(map_index_template="{{ submission_label }}", multiple_outputs=False)
    def ingest(path: str, params=None) -> dict:
        get_current_context()["submission_label"] = tasks.label(path)
        try:
            return tasks.ingest(path, params)
        except tasks.NotRetryable as refused:
            raise AirflowFailException(str(refused)) from None

    @task(outlets=[SURVEYS_LANDED], trigger_rule="all_done")
    def announce(outcomes) -> int:
        if not (accepted := tasks.any_accepted(outcomes)):
            raise AirflowSkipException("Nothing new landed: no asset event")
        return accepted

    files = new_files()
    collection_window_open() >> files
    announce(ingest.expand(path=files))


nns_collect()
