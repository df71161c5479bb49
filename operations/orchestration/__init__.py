"""Airflow plumbing, apart from the pipeline it runs: what each DAG task calls (`tasks`), the DAGs'
assets, pools and default arguments (`assets`), failure alerts (`alerts`), Airflow's users
(`access`), its REST API for reruns (`rest_api`), and the embedded Airflow of `nns demo` (`local`).

The pipeline's steps are `operations.steps`; the operator's commands are `operations.cli`.
"""
