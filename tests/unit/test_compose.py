"""docker-compose.yml and the Dockerfile: the official Airflow 3 shape, with this project's needs.

No Docker engine runs here, so images are neither built nor run: the structure is
checked, and `docker-compose config` (Compose's own parser and validator) runs where
the binary is installed (`make install` installs it when it can).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from core.settings import REPO_ROOT

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"}
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())  # resolves the anchors and << merges


def test_the_official_services_are_all_there_with_health_checks(compose):
    services = compose["services"]
    assert {"postgres", "redis", "airflow-init"} | AIRFLOW_SERVICES <= set(services)
    for name in {"postgres", "redis"} | AIRFLOW_SERVICES:
        check = services[name].get("healthcheck", {})
        assert check.get("test") and check.get("interval"), f"{name} has no health check"
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-worker"]["command"] == "celery worker"
    assert "8974/health" in str(services["airflow-scheduler"]["healthcheck"]["test"])
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_every_airflow_component_runs_the_celery_executor_from_the_project_image(compose):
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        service = compose["services"][name]
        env = service["environment"]
        assert service["build"] == "." and service["image"].startswith("${NNS_IMAGE:-nns-warehouse")
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in \
            env["AIRFLOW__CELERY__BROKER_URL"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == "cat /run/secrets/airflow_jwt_secret"
        assert set(service["secrets"]) == {"nns_pseudonym_key", "airflow_jwt_secret"}


def test_the_pseudonym_key_is_a_secret_file_and_never_a_value(compose):
    assert compose["secrets"]["nns_pseudonym_key"]["file"].endswith("/nns_pseudonym_key")
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        assert "NNS_PSEUDONYM_KEY" not in env, f"{name} carries the key itself"
        if name.startswith("airflow-") and name != "airflow-cli":
            assert env["NNS_PSEUDONYM_KEY_FILE"] == "/run/secrets/nns_pseudonym_key"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {"secrets", ".env", "data", "var"} <= set(ignored), "secrets and data stay out of the image"


def test_every_component_sees_the_same_data_home_and_logs(compose):
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        service = compose["services"][name]
        assert service["environment"]["NNS_HOME"] == "/data/nns"
        mounts = {v.split(":")[-1]: v for v in service["volumes"]}
        assert {"/data/nns", "/opt/airflow/logs", "/opt/airflow/config"} <= set(mounts)
    assert "postgres-db-volume" in compose["volumes"]
    init = compose["services"]["airflow-init"]["command"][-1]
    assert "airflow db migrate" in init and "pools set nns_warehouse 1" in init


def test_the_dockerfile_extends_the_official_image_with_the_locked_project():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2(-python3\.11)?$", dockerfile, re.M)
    assert "uv export --frozen --no-dev" in dockerfile, "the image installs exactly what uv.lock pins"
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in dockerfile, "the image's Airflow is held"
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/nns/dags" in dockerfile
    assert (REPO_ROOT / "dags").is_dir() and (REPO_ROOT / "uv.lock").is_file()


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed here "
                    "(make install installs it as root with apt-get); the YAML checks above still ran")
def test_docker_compose_itself_accepts_the_file(tmp_path):
    # A copy with stand-in secrets, as an operator's checkout would have them.
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / "secrets").mkdir()
    for name in ("nns_pseudonym_key", "airflow_jwt_secret"):
        (tmp_path / "secrets" / name).write_text("not-a-real-secret\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NNS_", "AIRFLOW"))}
    result = subprocess.run(["docker-compose", "config"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert {"postgres", "redis", "airflow-init"} | AIRFLOW_SERVICES <= set(resolved["services"])
    worker = resolved["services"]["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"
    # Compose v1 prints short syntax (host:target:mode), v2 long syntax (dicts).
    targets = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in worker["volumes"]}
    assert {"/data/nns", "/opt/airflow/logs"} <= targets
    assert {s["source"] for s in worker["secrets"]} == {"nns_pseudonym_key", "airflow_jwt_secret"}
    assert resolved["services"]["airflow-cli"]["profiles"] == ["debug"], "the debug CLI starts only on request"
