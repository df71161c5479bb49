"""A small client for Airflow 3's REST API (/api/v2), as an operator drives a deployment.

Used by `nns rerun` and by the deployment test, so the operator's commands are the
ones the test proves. Standard library only: it runs from a laptop without Airflow.

Authentication is the auth manager's token endpoint: POST /auth/token with a user name
and password gives a bearer token (the FAB auth manager's, in the deployment; the
simple auth manager answers the same). The user's role decides what the API allows
(operations.orchestration.access, docs/deployment.md).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

FINISHED_RUN_STATES = {"success", "failed"}
FINISHED_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}

# The requests Airflow's event log records (as the endpoint's name) that change what runs or
# ran: the audit trail of operator actions (docs/deployment.md, "The audit trail").
OPERATOR_EVENTS = (
    "trigger_dag_run", "post_clear_task_instances", "clear_dag_run", "clear_dag_runs", "patch_task_instance",
    "patch_task_group_instances", "patch_dag_run", "delete_dag_run", "patch_dag", "patch_dags", "delete_dag",
)


class AirflowAPIError(RuntimeError):
    """The API answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class WaitTimeout(AirflowAPIError):
    """Something we waited for did not happen in time."""


def password_from_secret(secret: str | None, username: str) -> str | None:
    """A plain password, or the user's entry in a JSON object of user names and passwords."""
    if secret and secret.lstrip().startswith("{"):
        try:
            return json.loads(secret).get(username)
        except json.JSONDecodeError:
            return secret
    return secret


@dataclass
class AirflowAPI:
    url: str  # the api-server's base URL, e.g. http://127.0.0.1:8080
    username: str
    password: str
    timeout: float = 30.0
    _token: str | None = None

    # --- plumbing ---

    def _send(self, method: str, path: str, body: dict | None = None, *, auth: bool = True) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:1000]
            raise AirflowAPIError(f"{method} {path}: HTTP {exc.code} {detail}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise AirflowAPIError(f"{method} {path}: cannot reach {self.url} ({exc})") from None
        return json.loads(raw) if raw else {}

    def token(self) -> str:
        if self._token is None:
            answer = self._send("POST", "/auth/token",
                                {"username": self.username, "password": self.password}, auth=False)
            self._token = answer["access_token"]
        return self._token

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return self._send(method, path, body)
        except AirflowAPIError as exc:
            if exc.status != 401 or self._token is None:
                raise
            self._token = None  # expired: log in again once
            return self._send(method, path, body)

    # --- what an operator does ---

    def health(self) -> dict:
        return self._send("GET", "/api/v2/monitor/health", auth=False)

    def dag(self, dag_id: str) -> dict:
        return self.request("GET", f"/api/v2/dags/{q(dag_id)}")

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.request("PATCH", f"/api/v2/dags/{q(dag_id)}", {"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None, note: str | None = None) -> dict:
        body = {"logical_date": None, "conf": conf or {}}
        if note:
            body["note"] = note
        return self.request("POST", f"/api/v2/dags/{q(dag_id)}/dagRuns", body)

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/api/v2/dags/{q(dag_id)}/dagRuns/{q(run_id)}")

    def dag_runs(self, dag_id: str, **filters) -> list[dict]:
        query = urllib.parse.urlencode({"limit": 100, "order_by": "-run_after", **filters})
        return self.request("GET", f"/api/v2/dags/{q(dag_id)}/dagRuns?{query}")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        found, offset = [], 0
        while True:
            page = self.request("GET", f"/api/v2/dags/{q(dag_id)}/dagRuns/{q(run_id)}/taskInstances"
                                       f"?limit=100&offset={offset}&order_by=map_index")
            found += page["task_instances"]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                return found

    def clear(self, dag_id: str, run_id: str, task_ids: list, *, include_downstream: bool = False,
              only_failed: bool = False, dry_run: bool = False) -> list[dict]:
        """Clear task instances; a mapped one is given as [task_id, map_index]."""
        body = {"dag_run_id": run_id, "task_ids": task_ids, "include_downstream": include_downstream,
                "only_failed": only_failed, "dry_run": dry_run}
        return self.request("POST", f"/api/v2/dags/{q(dag_id)}/clearTaskInstances", body)["task_instances"]

    def event_logs(self, *, events: tuple[str, ...] = OPERATOR_EVENTS, limit: int = 20, **filters) -> list[dict]:
        """The newest entries of Airflow's event log (who, when, what), only the given events."""
        query = urllib.parse.urlencode([("limit", limit), ("order_by", "-when"),
                                        *(("included_events", e) for e in events), *filters.items()])
        return self.request("GET", f"/api/v2/eventLogs?{query}")["event_logs"]

    # --- waiting, always bounded ---

    def wait_until_up(self, timeout: float, poll: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except AirflowAPIError as exc:
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"the API at {self.url} did not answer within {timeout:.0f} s: {exc}") from exc
            time.sleep(poll)

    def wait_for_dag(self, dag_id: str, timeout: float, poll: float = 2.0) -> dict:
        """Until the dag-processor has parsed the DAG and the API knows it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dag(dag_id)
            except AirflowAPIError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise WaitTimeout(f"DAG {dag_id} did not appear within {timeout:.0f} s: {exc}") from None
            time.sleep(poll)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, poll: float = 2.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in FINISHED_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s")
            time.sleep(poll)

    def wait_for_new_run(self, dag_id: str, after: str, timeout: float, poll: float = 2.0) -> dict:
        """The first run of `dag_id` whose run_after is at or after `after` (an ISO time), e.g. asset-triggered."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.dag_runs(dag_id, run_after_gte=after)
            if runs:
                return min(runs, key=lambda r: r["run_after"])
            if time.monotonic() > deadline:
                raise WaitTimeout(f"no {dag_id} run started after {after} within {timeout:.0f} s")
            time.sleep(poll)


def q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def from_settings(settings) -> AirflowAPI | None:
    """The deployment's API from the settings, or None when no deployment is configured."""
    if not settings.airflow_api_url:
        return None
    password = password_from_secret(settings.airflow_password, settings.airflow_user)
    if not password:
        raise ValueError("NNS_AIRFLOW_API_URL is set but no password: set NNS_AIRFLOW_PASSWORD "
                         "or NNS_AIRFLOW_PASSWORD_FILE (see .env.example)")
    return AirflowAPI(settings.airflow_api_url, settings.airflow_user, password)
