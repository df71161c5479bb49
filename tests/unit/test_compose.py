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
# Every secret the deployment has, each a file in secrets/ (docs/deployment.md, "Secrets").
COMMON_SECRETS = {"nns_pseudonym_key", "nns_ckm_secret", "airflow_jwt_secret", "airflow_fernet_key",
                  "airflow_api_secret_key", "postgres_password", "redis_password"}
SECRETS = COMMON_SECRETS | {"airflow_users"}
# A setting whose value would be a secret: its name says so, or it is a URL that carries a password.
SECRET_SETTING = re.compile(r"PASSWORD|SECRET|FERNET|_KEY\b|_KEY_|SQL_ALCHEMY_CONN|BROKER_URL|RESULT_BACKEND|USERS")


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
        assert '"redis://:%s@redis:6379/0"' in env["AIRFLOW__CELERY__BROKER_URL_CMD"]
        assert '"postgresql+psycopg2://airflow:%s@postgres/airflow"' in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"]
        assert '"db+postgresql+psycopg2://airflow:%s@postgres/airflow"' in env["AIRFLOW__CELERY__RESULT_BACKEND_CMD"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == "cat /run/secrets/airflow_jwt_secret"
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".fab_auth_manager.FabAuthManager"), "the production one"
        assert not any("SIMPLE_AUTH_MANAGER" in k for k in env)
        assert set(service["secrets"]) == (SECRETS if name == "airflow-init" else COMMON_SECRETS)


def test_the_pseudonym_key_is_a_secret_file_and_never_a_value(compose):
    assert compose["secrets"]["nns_pseudonym_key"]["file"].endswith("/nns_pseudonym_key")
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        assert "NNS_PSEUDONYM_KEY" not in env, f"{name} carries the key itself"
        if name.startswith("airflow-") and name != "airflow-cli":
            assert env["NNS_PSEUDONYM_KEY_FILE"] == "/run/secrets/nns_pseudonym_key"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {"secrets", ".env", "data", "var"} <= set(ignored), "secrets and data stay out of the image"


def test_no_secret_value_is_in_the_file_every_key_and_password_comes_from_secrets(compose):
    assert set(compose["secrets"]) == SECRETS
    for name, secret in compose["secrets"].items():
        assert secret == {"file": f"${{NNS_SECRETS_DIR:-./secrets}}/{name}"}, f"{name} is not a file in secrets/"
    settings = {(name, key): str(value) for name, service in compose["services"].items()
                for key, value in (service.get("environment") or {}).items()}
    secret_settings = {k: v for k, v in settings.items() if SECRET_SETTING.search(k[1])}
    for (service, key), value in secret_settings.items():
        if key.endswith("_CMD"):  # Airflow runs it: it must only read a secret file
            assert re.fullmatch(r"cat /run/secrets/\w+|sh -c '.*\$\(cat /run/secrets/\w+\).*'", value), \
                f"{service} {key} does not read a secret file"
        elif key.endswith("_FILE"):
            assert value.startswith("/run/secrets/"), f"{service} {key}"
        else:
            raise AssertionError(f"{service} sets {key} itself: a secret must come from secrets/")
    everywhere = {key for (_, key) in secret_settings}
    assert {"AIRFLOW__CORE__FERNET_KEY_CMD", "AIRFLOW__API_AUTH__JWT_SECRET_CMD", "AIRFLOW__API__SECRET_KEY_CMD",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", "AIRFLOW__CELERY__BROKER_URL_CMD",
            "AIRFLOW__CELERY__RESULT_BACKEND_CMD", "POSTGRES_PASSWORD_FILE", "NNS_PSEUDONYM_KEY_FILE"} <= everywhere
    used = {s for service in compose["services"].values() for s in service.get("secrets", [])}
    assert used == SECRETS, "every secret is used, and only declared ones"
    # Redis asks for its password, and gets it on standard input rather than a command line.
    redis = compose["services"]["redis"]
    assert "requirepass" in str(redis["command"]) and "redis-server -" in str(redis["command"])
    assert "REDISCLI_AUTH" in str(redis["healthcheck"]["test"])
    # No literal credentials anywhere in the text: no user:password@ in a URL, no key or password value.
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"://[^/\s:@]*:[^%@\s/]+@", text), "a URL with a password in it"
    tokens = re.findall(r"[A-Za-z0-9+/_=-]{24,}", text)
    key_like = [t for t in tokens if "__" not in t and (re.fullmatch(r"[0-9a-f]+", t) or all(
        re.search(pattern, t) for pattern in (r"\d", "[a-z]", "[A-Z]")))]
    assert not key_like, f"key-like values in the file: {key_like}"


def test_every_component_sees_the_same_data_home_and_logs(compose):
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        service = compose["services"][name]
        assert service["environment"]["NNS_HOME"] == "/data/nns"
        mounts = {v.split(":")[-1]: v for v in service["volumes"]}
        assert {"/data/nns", "/opt/airflow/logs", "/opt/airflow/config"} <= set(mounts)
    assert "postgres-db-volume" in compose["volumes"]
    init = compose["services"]["airflow-init"]["command"][-1]
    assert "airflow db migrate" in init and "pools set nns_warehouse 1" in init
    assert "python -m operations.orchestration.access /run/secrets/airflow_users" in init, \
        "users and roles at every start"
    assert init.index("airflow db migrate") < init.index("operations.orchestration.access")


def test_the_api_server_listens_on_loopback_unless_told_otherwise(compose):
    assert compose["services"]["airflow-apiserver"]["ports"] == ["${AIRFLOW_API_BIND:-127.0.0.1}:8080:8080"]
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published <= {"airflow-apiserver", "pxweb-api", "check-page"}, "Redis and PostgreSQL are not published"


def test_the_check_page_is_on_loopback_and_sees_nothing_of_the_data_home(compose):
    """The check page (check/service.py): published on loopback by default, no volume (it reads the catalogue in
    the image), a read-only root file system, a memory limit above its bound, and its health route."""
    service = compose["services"]["check-page"]
    assert service["ports"] == ["${CHECK_PAGE_BIND:-127.0.0.1}:8082:8082"]
    assert service["command"][0] == "check-server" and "volumes" not in service
    assert service["read_only"] is True and service["mem_limit"]
    assert "/halsa" in " ".join(service["healthcheck"]["test"])


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
    for name in SECRETS:
        (tmp_path / "secrets" / name).write_text(f"stand-in-{name}-value\n")
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
    assert {s["source"] for s in worker["secrets"]} == COMMON_SECRETS
    assert "stand-in-" not in result.stdout, "Compose mounts the secrets; their values never enter the config"
    assert resolved["services"]["airflow-cli"]["profiles"] == ["debug"], "the debug CLI starts only on request"
