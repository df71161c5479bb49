"""nns_registers: load new SUS and income extracts from inbox/register/ (manual trigger).

Each extract is pseudonymised in memory and landed; the original is removed
from the inbox after a successful load and stays where it is if it fails.
"""

from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from operations.orchestration import tasks
from operations.orchestration.assets import DEFAULT_ARGS, REGISTERS_LANDED


@dag(
    schedule=None,
    start_date=datetime(2016, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nns", "ingest", "register"],
    params={
        "file": Param(None, type=["null", "string"], description="Only this extract, e.g. sus_deltagare_2026-06.csv"),
        "force": Param(False, type="boolean",
                       description="Load an extract the ledger has seen (a rejected one, after a contract fix)"),
    },
    doc_md=__doc__,
)
def nns_registers():
    @task.short_circuit  # an empty list skips ingest and announce at once
    def new_extracts(params=None) -> list[str]:
        return tasks.new_register_files(params)

    @task(map_index_template="{{ extract_label }}", multiple_outputs=False)  # one XCom, not one per key
    def ingest(path: str, params=None) -> dict:
        get_current_context()["extract_label"] = tasks.label(path)  # masked: Airflow shows and stores it
        try:
            return tasks.ingest(path, params)
        except tasks.NotRetryable as refused:
            raise AirflowFailException(str(refused)) from None

    @task(outlets=[REGISTERS_LANDED], trigger_rule="all_done")
    def announce(outcomes) -> int:
        if not (accepted := tasks.any_accepted(outcomes)):
            raise AirflowSkipException("No extract landed: no asset event")
        return accepted

    announce(ingest.expand(path=new_extracts()))


nns_registers()
