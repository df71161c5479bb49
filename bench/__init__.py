"""The benchmark (`make bench`): end to end through Airflow, Excel ingestion,
dbt against a hand-written DuckDB floor, the nightly increment, analyst
queries and scale. `python -m bench.run`; results in bench/results.md and .json."""
