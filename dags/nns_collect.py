"""nns_collect: nightly, inside collection windows, one mapped task per new inbox file."""

from datetime import datetime

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nns.assets import DEFAULT_ARGS, SURVEYS_LANDED


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
        from nns.pipeline import should_collect
        from nns.settings import get_settings

        forced = bool(params["ignore_calendar"] or params["federation"] or params["file"] or params["force"])
        return should_collect(get_settings(), dag_run.run_after, ignore_calendar=forced)

    @task
    def new_files(params=None) -> list[str]:
        from nns.pipeline import files_to_ingest
        from nns.settings import get_settings

        return files_to_ingest(get_settings(), federation=params["federation"], file_name=params["file"],
                               force=params["force"])

    # multiple_outputs=False: a dict return would otherwise be pushed as one XCom per key
    # as well, about ten extra API round trips per file.
    @task(map_index_template="{{ submission_label }}", multiple_outputs=False)
    def ingest(path: str, params=None) -> dict:
        from pathlib import Path

        from nns.pipeline import ingest_path, submission_label
        from nns.settings import get_settings

        settings = get_settings()
        get_current_context()["submission_label"] = submission_label(Path(path), settings)
        # Safe to clear and run again: see ingest_path.
        outcome = ingest_path(Path(path), settings, force=params["force"])
        if outcome.status == "rejected":
            # Fail this file only: the others still land and the asset is still emitted.
            raise AirflowFailException(outcome.summary())
        return outcome.to_dict()

    @task(outlets=[SURVEYS_LANDED], trigger_rule="all_done")
    def announce(outcomes) -> int:
        accepted = [o for o in outcomes if o and o["status"] == "accepted"]
        if not accepted:
            raise AirflowSkipException("Nothing new landed: no asset event")
        return len(accepted)

    files = new_files()
    collection_window_open() >> files
    announce(ingest.expand(path=files))


nns_collect()
