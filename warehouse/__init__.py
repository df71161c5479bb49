"""Lake → warehouse: running dbt (dbt_project/) and the one-writer lock."""
