"""A real, throw-away Airflow deployment on loopback for the deployment test.

PostgreSQL (metadata and Celery results) and Redis (Celery broker) are the machine's
servers on 127.0.0.1 when they answer, otherwise throw-away ones started from the
installed binaries. On them: a fresh metadata database and a Redis database index of
our own, `airflow db migrate`, the pool, then api-server, scheduler, dag-processor,
triggerer and two Celery workers as separate process groups, exactly the components
of docker-compose.yml. Everything started is stopped, and everything created dropped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from core.settings import REPO_ROOT

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


class Unavailable(RuntimeError):
    """No PostgreSQL or Redis can be had on this machine: the test must skip (loudly)."""


def worker_hostname() -> str:
    """[core] hostname_callable for the test's workers: each reports its own name, as
    workers on separate hosts would, so a task instance's `hostname` says which ran it."""
    return os.environ.get("NNS_TEST_WORKER_NAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def wait_for(check, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout:.0f} s")
        time.sleep(poll)


class Processes:
    """Process groups we started, each logging to its own file; stopped by their ids."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict, cwd: Path | None = None) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.started[name] = process
        return process

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.started.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"deployment process(es) exited: {dead}\n{self.tail()}")

    def stop_many(self, names: list[str], grace: float = 20) -> None:
        """SIGTERM to all at once (each shuts down in its own time), SIGKILL whoever outlives the grace."""
        for name in names:
            process = self.started.get(name)
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name in names:
            process = self.started.pop(name, None)
            if process is None:
                continue
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def stop_all(self) -> None:
        self.stop_many(list(self.started)[::-1])

    def tail(self, lines: int = 60) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            out.append(f"----- {path.name} (last {lines} lines) -----")
            out += text[-lines:]
        return "\n".join(out)


class Postgres:
    """The machine's PostgreSQL, or a throw-away cluster; hands out fresh databases."""

    def __init__(self, work: Path, processes: Processes):
        self.port = 5432
        self.user = "postgres"
        self.cluster: Path | None = None
        if not os.environ.get("NNS_TEST_THROWAWAY_SERVERS") and self._connects():
            return
        self._start_throwaway(work, processes)

    def _connects(self) -> bool:
        import psycopg2

        for user in ("postgres", "root"):
            try:
                psycopg2.connect(host=LOOPBACK, port=self.port, user=user, dbname="postgres",
                                 connect_timeout=3).close()
                self.user = user
                return True
            except psycopg2.Error:
                continue
        return False

    def _start_throwaway(self, work: Path, processes: Processes) -> None:
        initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
        if not initdb:
            raise Unavailable("no PostgreSQL answers on 127.0.0.1:5432 and no initdb is installed")
        bindir = Path(initdb).resolve().parent
        self.cluster = work / "pg"
        self.cluster.mkdir(mode=0o700)
        prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use its own account
            if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
                raise Unavailable("running as root without a 'postgres' account to start a throw-away PostgreSQL")
            shutil.chown(self.cluster, "postgres")
            work.chmod(0o755)
            prefix = ["runuser", "-u", "postgres", "--"]
        result = subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(self.cluster), "-U", "postgres",
                                 "--auth=trust", "--no-sync"], capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise Unavailable(f"initdb failed: {result.stderr[-500:]}")
        self.port, self.user = free_port(), "postgres"
        processes.start("postgres", [*prefix, str(bindir / "postgres"), "-D", str(self.cluster),
                                     "-p", str(self.port), "-k", str(self.cluster), "-c",
                                     f"listen_addresses={LOOPBACK}", "-c", "fsync=off"], os.environ.copy())
        wait_for(self._connects, 60, "throw-away PostgreSQL accepting connections")

    def _admin(self):
        import psycopg2

        con = psycopg2.connect(host=LOOPBACK, port=self.port, user=self.user, dbname="postgres")
        con.autocommit = True
        return con

    def create_database(self) -> str:
        name = f"nns_deploy_{os.getpid()}_{secrets.token_hex(4)}"
        with contextlib.closing(self._admin()) as con, con.cursor() as cur:
            cur.execute(f'create database "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.closing(self._admin()) as con, con.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')

    def url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://{self.user}@{LOOPBACK}:{self.port}/{database}"


class Redis:
    """The machine's Redis, or a throw-away one; we claim one empty database index."""

    CLAIM = "nns-deploy-test-claim"

    def __init__(self, work: Path, processes: Processes):
        self.port = 6379
        if os.environ.get("NNS_TEST_THROWAWAY_SERVERS") or not self._pings():
            server = shutil.which("redis-server")
            if not server:
                raise Unavailable("no Redis answers on 127.0.0.1:6379 and no redis-server is installed")
            self.port = free_port()
            (work / "redis").mkdir()
            processes.start("redis", [server, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
                                      "--appendonly", "no", "--dir", str(work / "redis")], os.environ.copy())
            wait_for(self._pings, 30, "throw-away Redis answering")
        self.db: int | None = None
        self.token = secrets.token_hex(8)

    def _client(self, db: int = 0):
        import redis

        return redis.Redis(host=LOOPBACK, port=self.port, db=db, socket_timeout=5)

    def _pings(self) -> bool:
        try:
            return bool(self._client().ping())
        except Exception:  # noqa: BLE001 - any failure means "no Redis here"
            return False

    def claim(self) -> int:
        """An empty database index 1-15, claimed with a key so nobody else takes it meanwhile."""
        import random

        for db in random.sample(range(1, 16), 15):
            client = self._client(db)
            if client.dbsize() == 0 and client.set(self.CLAIM, self.token, nx=True):
                self.db = db
                return db
        raise Unavailable("no empty Redis database index (1-15) to claim on 127.0.0.1")

    def release(self) -> None:
        if self.db is not None and self._client(self.db).get(self.CLAIM) == self.token.encode():
            self._client(self.db).flushdb()
        self.db = None

    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{self.db}"


class Deployment:
    """`with Deployment(work_dir) as d:` a running CeleryExecutor deployment; d.api drives it."""

    WORKERS = ("w1", "w2")

    def __init__(self, work: Path, nns_home: Path, *, startup_timeout: float = 180):
        self.work, self.nns_home = work, nns_home
        self.airflow_home = work / "airflow"
        self.logs = work / "process-logs"
        self.startup_timeout = startup_timeout
        self.processes = Processes(self.logs)
        self.database: str | None = None
        # One user per role, as the deployment's users file would list them (operations.orchestration.access).
        self.passwords = {role: secrets.token_urlsafe(16) for role in ("admin", "operator", "viewer")}
        self.fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"

    # --- set-up ---

    def env(self, **extra: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("AIRFLOW", "NNS_", "PYTEST")) and k != "PYTHONPATH"}
        return {
            **inherited,
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # The production auth manager, as docker-compose.yml has it (users from the users file).
            "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
            "AIRFLOW__FAB__CONFIG_FILE": str(self.airflow_home / "webserver_config.py"),
            # Keys from secret files through Airflow's _CMD settings, as docker-compose.yml reads them.
            "AIRFLOW__API__SECRET_KEY_CMD": f"cat {self.secret('airflow_api_secret_key')}",
            "AIRFLOW__CORE__FERNET_KEY_CMD": f"cat {self.secret('airflow_fernet_key')}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET_CMD": f"cat {self.secret('airflow_jwt_secret')}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url(self.database),
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url(),
            "AIRFLOW__CELERY__RESULT_BACKEND": self.postgres.url(self.database, "db+postgresql+psycopg2"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
            # New files are parsed at once; a quick scheduler keeps the test short.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "NNS_HOME": str(self.nns_home),
            "NNS_PSEUDONYM_KEY_FILE": str(self.work / "pseudonym_key"),
            "NNS_CKM_SECRET_FILE": str(self.work / "ckm_secret"),  # as docker-compose.yml reads it
            # The test writes whole files before it triggers: no need to wait for them to settle.
            "NNS_STABLE_SECONDS": "0",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "GX_ANALYTICS_ENABLED": "False",
            "DO_NOT_TRACK": "1",
            **extra,
        }

    def airflow(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run([str(BIN / "airflow"), *args], env=self.env(), capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def __enter__(self) -> Deployment:
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.timings: dict[str, float] = {}
        clock = time.monotonic()

        def lap(what: str) -> None:
            self.timings[what] = round(time.monotonic() - clock, 1)

        try:
            self.postgres = Postgres(self.work, self.processes)
            self.redis = Redis(self.work, self.processes)
            self.database = self.postgres.create_database()
            self.redis.claim()
            self.secret("airflow_jwt_secret").parent.mkdir(mode=0o700)
            for name, value in (("airflow_jwt_secret", secrets.token_urlsafe(32)),
                                ("airflow_api_secret_key", secrets.token_urlsafe(32)),
                                ("airflow_fernet_key", self.fernet_key)):
                self.secret(name).write_text(value)
            self.users_file.write_text(json.dumps([
                {"username": role, "role": role, "password": password} for role, password in self.passwords.items()]))
            (self.work / "operator_password").write_text(self.passwords["operator"])
            (self.work / "pseudonym_key").write_text(secrets.token_hex(32))
            (self.work / "ckm_secret").write_text(secrets.token_hex(32))
            lap("servers and a fresh database")
            self.airflow("db", "migrate")
            lap("airflow db migrate")
            # Scheduler, dag-processor, triggerer and workers need no users: they start while the roles
            # and users are made; the api-server, which checks every request against them, after that.
            self.start_components(api_server=False)
            self.provision_users()
            lap("roles and users (the other components starting meanwhile)")
            self.start_components(api_server=True)
            self.api = self.as_user("operator")
            self.admin = self.as_user("admin")
            self.api.wait_until_up(self.startup_timeout)
            lap("api-server answering")
            # The one-slot pool for the DuckDB writer, made by an admin (faster than the CLI).
            self.admin.request("POST", "/api/v2/pools", {"name": "nns_warehouse", "slots": 1,
                                                       "description": "one DuckDB writer"})
            for dag_id in ("nns_collect", "nns_registers", "nns_build"):
                self.api.wait_for_dag(dag_id, self.startup_timeout)
            lap("DAGs parsed")
            self.wait_for_workers()
            lap("workers ready")
        except BaseException:
            self.dump_logs()
            self.__exit__(None, None, None)
            raise
        return self

    def secret(self, name: str) -> Path:
        return self.work / "secrets" / name

    @property
    def users_file(self) -> Path:
        return self.work / "users.json"

    def as_user(self, username: str):
        from operations.orchestration.rest_api import AirflowAPI

        return AirflowAPI(self.url, username, self.passwords[username])

    def provision_users(self) -> None:
        """Roles and users from the users file, as airflow-init does (operations.orchestration.access)."""
        result = subprocess.run([sys.executable, "-m", "operations.orchestration.access", str(self.users_file)],
                                env=self.env(PYTHONPATH=str(REPO_ROOT)), cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=180)
        if result.returncode:
            raise RuntimeError(f"provisioning users failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")

    def start_components(self, *, api_server: bool) -> None:
        airflow = str(BIN / "airflow")
        if api_server:
            self.processes.start("api-server", [airflow, "api-server", "--host", LOOPBACK, "--port",
                                                str(self.port), "--workers", "1"], self.env())
            return
        for name in ("scheduler", "dag-processor"):
            self.processes.start(name, [airflow, name], self.env())
        self.processes.start("triggerer", [airflow, "triggerer", "--skip-serve-logs"], self.env())
        for worker in self.WORKERS:
            # Two workers as on two hosts; logs are on the shared disk, so no log server
            # (two on one host would fight over its port).
            self.processes.start(f"worker-{worker}", [
                airflow, "celery", "worker", "--concurrency", "1", "--skip-serve-logs",
                "--celery-hostname", f"{worker}@%h", "--without-gossip", "--without-mingle"],
                self.env(NNS_TEST_WORKER_NAME=worker, PYTHONPATH=str(REPO_ROOT),
                         AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.deployment.worker_hostname"))

    def wait_for_workers(self) -> None:
        def ready() -> bool:
            self.processes.check_alive()
            return all("ready." in (self.logs / f"worker-{w}.log").read_text(errors="replace")
                       for w in self.WORKERS)

        wait_for(ready, self.startup_timeout, "both Celery workers ready")

    def worker_log(self, worker: str) -> str:
        return (self.logs / f"worker-{worker}.log").read_text(errors="replace")

    # --- tear-down ---

    def dump_logs(self) -> None:
        print(f"\n===== deployment process logs ({self.logs}) =====\n{self.processes.tail()}", file=sys.stderr)
        for path in sorted((self.airflow_home / "logs").rglob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            if any('"level":"error"' in line or "Traceback" in line for line in lines):
                print(f"----- task log {path.relative_to(self.airflow_home)} -----", file=sys.stderr)
                print("\n".join(line[:1500] for line in lines[-40:]), file=sys.stderr)

    def __exit__(self, exc_type, exc, tb) -> None:
        errors = []
        servers = ("redis", "postgres")  # throw-away ones, if we started them: stopped last
        self.processes.stop_many([n for n in self.processes.started if n not in servers][::-1])
        if getattr(self, "redis", None):
            try:
                self.redis.release()
            except Exception as error:  # noqa: BLE001 - keep cleaning, report at the end
                errors.append(error)
        if self.database and getattr(self, "postgres", None):
            try:
                self.postgres.drop_database(self.database)
            except Exception as error:  # noqa: BLE001
                errors.append(error)
        self.processes.stop_all()
        if errors:
            raise RuntimeError(f"deployment clean-up failed: {errors}")
