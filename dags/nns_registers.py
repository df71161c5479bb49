"""nns_registers: load new SUS and income extracts from inbox/register/ (manual trigger).

Each extract is pseudonymised in memory and landed; the original is removed
from the inbox after a successful load and stays where it is if it fails.
"""

from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nns.assets import DEFAULT_ARGS, REGISTERS_LANDED


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
    @task
    def new_extracts(params=None) -> list[str]:
        from nns.pipeline import register_files_to_ingest
        from nns.settings import get_settings

        return register_files_to_ingest(get_settings(), file_name=params["file"], force=params["force"])

    @task(map_index_template="{{ extract_label }}", multiple_outputs=False)  # one XCom, not one per key
    def ingest(path: str, params=None) -> dict:
        from pathlib import Path

        from ingest.personnummer import redact
        from ingest.register import MissingPseudonymKey
        from nns.pipeline import ingest_path
        from nns.settings import get_settings

        get_current_context()["extract_label"] = redact(Path(path).name)  # Airflow shows and stores it
        try:
            outcome = ingest_path(Path(path), get_settings(), force=params["force"])
        except MissingPseudonymKey as exc:
            raise AirflowFailException(str(exc)) from None
        if outcome.status == "rejected":
            raise AirflowFailException(outcome.summary())
        return outcome.to_dict()

    @task(outlets=[REGISTERS_LANDED], trigger_rule="all_done")
    def announce(outcomes) -> int:
        accepted = [o for o in outcomes if o and o["status"] == "accepted"]
        if not accepted:
            raise AirflowSkipException("No extract landed: no asset event")
        return len(accepted)

    announce(ingest.expand(path=new_extracts()))


nns_registers()
