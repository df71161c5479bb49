"""nns_build: when new data has landed, build the warehouse (dbt), gate it, publish, and write reports.

The quality gate (Great Expectations) runs between dbt and publication: a blocking
failure fails the run, publishes nothing, and leaves the Data Docs in publish/quality/.
dbt, the gate and publishing share the one-slot pool: one DuckDB writer at a time.
"""

from datetime import datetime

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowFailException

from operations import tasks
from operations.assets import DEFAULT_ARGS, REGISTERS_LANDED, SURVEYS_LANDED, WAREHOUSE_POOL


@dag(
    schedule=(SURVEYS_LANDED | REGISTERS_LANDED),
    start_date=datetime(2016, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nns", "build"],
    doc_md=__doc__,
)
def nns_build():
    @task(pool=WAREHOUSE_POOL)
    def dbt_build() -> None:
        tasks.build_warehouse()

    @task(pool=WAREHOUSE_POOL)
    def quality_gate() -> str:
        try:
            return tasks.quality_gate()
        except tasks.NotRetryable as refused:
            raise AirflowFailException(str(refused)) from None

    @task(pool=WAREHOUSE_POOL)
    def publish() -> str:
        return tasks.publish()

    @task
    def reports() -> str:
        return tasks.reports()

    dbt_build() >> quality_gate() >> publish() >> reports()


nns_build()
