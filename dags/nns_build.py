"""nns_build: when new data has landed, build the warehouse with dbt (one writer)."""

from datetime import datetime

from airflow.sdk import dag, task

from nns.assets import DEFAULT_ARGS, SURVEYS_LANDED, WAREHOUSE_POOL


@dag(
    schedule=[SURVEYS_LANDED],
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

    dbt_build()


nns_build()
