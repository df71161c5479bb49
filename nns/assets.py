"""Assets and shared DAG settings, in one place for every DAG file."""

from airflow.sdk import Asset

SURVEYS_LANDED = Asset("nns://lake/survey", extra={"what": "survey submissions landed in the lake"})
REGISTERS_LANDED = Asset("nns://lake/register", extra={"what": "pseudonymised register extracts landed"})

# dbt and publishing share this pool; it has one slot, so there is one DuckDB writer.
WAREHOUSE_POOL = "nns_warehouse"

DEFAULT_ARGS = {"owner": "nns", "retries": 0}
