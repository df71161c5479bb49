"""The top layer: pipeline steps, DAG tasks, status, alerts, reruns, Airflow clients, the nns CLI."""
