"""Assets and shared DAG settings, in one place for every DAG file."""

from airflow.sdk import Asset

from operations.orchestration.alerts import on_task_failure

SURVEYS_LANDED = Asset("nns://lake/survey", extra={"what": "survey submissions landed in the lake"})
REGISTERS_LANDED = Asset("nns://lake/register", extra={"what": "pseudonymised register extracts landed"})

# dbt and publishing share this pool; it has one slot, so there is one DuckDB writer.
WAREHOUSE_POOL = "nns_warehouse"

# Every task: a failure logs a summary with the next command, and e-mails it when SMTP is configured.
DEFAULT_ARGS = {"owner": "nns", "retries": 0, "on_failure_callback": on_task_failure}
