"""nns_build: when new data has landed, build the warehouse (dbt), gate it, publish, and write reports.

The quality gate (Great Expectations) runs between dbt and publication: a blocking
failure fails the run, publishes nothing, and leaves the Data Docs in publish/quality/.
dbt, the gate and publishing share the one-slot pool: one DuckDB writer at a time.
"""

from datetime import datetime

from airflow.sdk import dag, task

from nns.assets import DEFAULT_ARGS, REGISTERS_LANDED, SURVEYS_LANDED, WAREHOUSE_POOL


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
        from nns.pipeline import build_warehouse
        from nns.settings import get_settings

        build_warehouse(get_settings())

    @task(pool=WAREHOUSE_POOL)
    def quality_gate() -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from expectations.gate import GateFailed
        from nns.pipeline import quality_gate as run_quality_gate
        from nns.settings import get_settings

        try:
            return run_quality_gate(get_settings()).summary()
        except GateFailed as failed:
            raise AirflowFailException(str(failed)) from None  # retrying cannot fix the data

    @task(pool=WAREHOUSE_POOL)
    def publish() -> str:
        from nns.pipeline import publish_marts
        from nns.settings import get_settings

        return str(publish_marts(get_settings()))

    @task
    def reports() -> str:
        from nns.pipeline import write_reports
        from nns.settings import get_settings

        return str(write_reports(get_settings()))

    dbt_build() >> quality_gate() >> publish() >> reports()


nns_build()
