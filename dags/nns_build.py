"""nns_build: when new data has landed, build the warehouse (dbt), stage, gate, publish, and write reports.

Staging writes the one protected candidate (disclosure control); the quality gate (Great
Expectations and the disclosure audits) judges it; publishing renames exactly that file. A
blocking failure fails the run, publishes nothing, and leaves the Data Docs in publish/quality/.
dbt, staging, the gate and publishing share the one-slot pool: one DuckDB writer at a time.

A night builds only what changed (docs/operations.md, "What a night rebuilds"), and nothing
when the publication already is what it would publish ("A night with nothing new"). Triggered
by hand, the params do what `nns build --full --data-docs` and `nns report --all` do.
"""

from datetime import datetime

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from operations.orchestration import tasks
from operations.orchestration.assets import DEFAULT_ARGS, REGISTERS_LANDED, SURVEYS_LANDED, WAREHOUSE_POOL


@dag(
    schedule=(SURVEYS_LANDED | REGISTERS_LANDED),
    start_date=datetime(2016, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nns", "build"],
    doc_md=__doc__,
    params={
        "full": Param(False, type="boolean", description="Build every model, whatever changed"),
        "data_docs": Param(False, type="boolean",
                           description="Also build the Data Docs (otherwise only when the gate blocks)"),
        "all_reports": Param(False, type="boolean", description="Rewrite every report, changed or not"),
    },
)
def nns_build():
    # False skips every later task at once: nothing changed since the last publication.
    @task.short_circuit(pool=WAREHOUSE_POOL)
    def plan(params=None) -> bool:
        return tasks.anything_to_build(params)

    @task(pool=WAREHOUSE_POOL)
    def dbt_build(params=None) -> None:
        tasks.build_warehouse(params)

    @task(pool=WAREHOUSE_POOL)
    def stage() -> str:
        try:
            return tasks.stage()
        except tasks.NotRetryable as refused:
            raise AirflowFailException(str(refused)) from None

    @task(pool=WAREHOUSE_POOL)
    def quality_gate(params=None) -> str:
        try:
            return tasks.quality_gate(params)
        except tasks.NotRetryable as refused:
            raise AirflowFailException(str(refused)) from None

    @task(pool=WAREHOUSE_POOL)
    def publish() -> str:
        return tasks.publish()

    @task
    def reports(params=None) -> str:
        return tasks.reports(params)

    plan() >> dbt_build() >> stage() >> quality_gate() >> publish() >> reports()


nns_build()
