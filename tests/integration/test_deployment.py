"""The distributed engine for real: CeleryExecutor, two workers, driven only through /api/v2.

An operator's day: files arrive with one broken; the nightly collection fails that
file only; the federation sends a corrected file under the same name; the operator
clears just that mapped task through the REST API; it runs again on a Celery worker,
the asset event starts nns_build, which publishes. Then `nns rerun --force` through
the API reprocesses a file on a worker and the lake holds the same rows as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2
import pytest
from cryptography.fernet import Fernet

from core.catalogue import load_catalogue
from core.settings import REPO_ROOT
from ingest.template import write_workbook
from operations.orchestration.rest_api import AirflowAPIError
from tests.conftest import sample_content
from tests.deployment import Deployment, Unavailable

GOOD = ("SF01", "SF02", "SF03")
BROKEN = "SF07_2025-26.xlsx"
RUN_TIMEOUT = 240  # seconds for one DAG run on this 2-core machine; the whole test stays bounded


@pytest.fixture(scope="module")
def deployment(request):
    # Not pytest's tmp_path: other pytest sessions on the machine prune old base temps,
    # and this one lives for minutes. Kept on failure for a look, removed otherwise.
    work = Path(tempfile.mkdtemp(prefix="nns-deployment-"))
    started = time.monotonic()
    failures = request.session.testsfailed
    try:
        with Deployment(work, work / "home") as running:
            running.started_in = time.monotonic() - started
            yield running
            if request.session.testsfailed > failures:
                running.dump_logs()
    except Unavailable as exc:
        # Loud: a deployment test that cannot run is a gap in CI, not a pass.
        pytest.skip(f"DEPLOYMENT TEST NOT RUN: {exc}")
    finally:
        if request.session.testsfailed > failures:
            print(f"\ndeployment work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def write_inbox(home: Path) -> None:
    catalogue = load_catalogue(REPO_ROOT / "dbt_project" / "seeds")
    inbox = home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for code in GOOD:
        write_workbook(inbox / f"{code}_2025-26.xlsx", sample_content(code), catalogue, with_guidance=False)
    (inbox / BROKEN).write_bytes(b"PK\x03\x04 cut off in the upload")


def fix_broken_file(home: Path) -> None:
    catalogue = load_catalogue(REPO_ROOT / "dbt_project" / "seeds")
    write_workbook(home / "inbox" / BROKEN, sample_content("SF07", n=7), catalogue, with_guidance=False)


def wait_until_idle(api, dag_id: str, appear_within: float = 15) -> None:
    """Wait for the run unpausing creates (if the timetable makes one) and for every run to end."""
    deadline = time.monotonic() + appear_within
    while not api.dag_runs(dag_id) and time.monotonic() < deadline:
        time.sleep(1)
    for run in api.dag_runs(dag_id):
        api.wait_for_run(dag_id, run["dag_run_id"], RUN_TIMEOUT)


def ingest_states(api, run_id: str) -> dict[str, dict]:
    return {ti["rendered_map_index"]: ti for ti in api.task_instances("nns_collect", run_id)
            if ti["task_id"] == "ingest"}


def test_a_cleared_mapped_task_reruns_on_a_celery_worker_and_the_build_publishes(deployment):
    api, home = deployment.api, deployment.nns_home
    started = time.monotonic()
    # Unpausing starts the latest nightly run (inside a window it collects): let it pass first,
    # so the run below is the one that meets the files.
    api.set_paused("nns_collect", False)
    wait_until_idle(api, "nns_collect")
    write_inbox(home)
    run = api.trigger("nns_collect", {"ignore_calendar": True})
    run = api.wait_for_run("nns_collect", run["dag_run_id"], RUN_TIMEOUT)
    assert run["state"] == "success", "announce (all_done) ends the run even with one failed file"

    states = ingest_states(api, run["dag_run_id"])
    assert set(states) == {f"{c}_2025-26.xlsx" for c in GOOD} | {BROKEN}, "one mapped task per file"
    failed = [name for name, ti in states.items() if ti["state"] != "success"]
    assert failed == [BROKEN] and states[BROKEN]["state"] == "failed"
    assert {ti["hostname"] for ti in states.values()} <= set(Deployment.WORKERS), "ran on Celery workers"
    assert api.dag_runs("nns_build") == [], "nns_build is paused: it does not build yet"

    # A coordinator (viewer) sees the failure but may change nothing; nobody anonymous sees anything.
    viewer = deployment.as_user("viewer")
    assert [r["dag_run_id"] for r in viewer.dag_runs("nns_collect")] == \
        [r["dag_run_id"] for r in api.dag_runs("nns_collect")], "a viewer lists the runs"
    refused_clear = refused(lambda: viewer.clear("nns_collect", run["dag_run_id"],
                                                 [["ingest", states[BROKEN]["map_index"]]]))
    refused_trigger = refused(lambda: viewer.trigger("nns_collect", {"ignore_calendar": True}))
    assert (refused_clear, refused_trigger) == (403, 403), "a viewer may neither clear nor trigger"
    assert anonymous_status(deployment.url, f"/api/v2/dags/nns_collect/dagRuns/{run['dag_run_id']}") == 401
    assert anonymous_status(deployment.url, "/api/v2/version") == 200, "what compose's health check asks stays open"
    assert anonymous_status(deployment.url, "/api/v2/dags/nns_collect/clearTaskInstances", {
        "dag_run_id": run["dag_run_id"], "task_ids": ["ingest"], "dry_run": False}) == 401
    assert ingest_states(api, run["dag_run_id"])[BROKEN]["try_number"] == 1, "the refused clear changed nothing"

    # The federation sends a corrected file under the same name; the operator clears that task only.
    fix_broken_file(home)
    api.set_paused("nns_build", False)
    cleared = api.clear("nns_collect", run["dag_run_id"], [["ingest", states[BROKEN]["map_index"]]],
                        include_downstream=True)
    assert sorted((t["task_id"], t["map_index"]) for t in cleared) == [
        ("announce", -1), ("ingest", states[BROKEN]["map_index"])], "just that file, and the announcement"

    # The audit trail: the clear, by the operator, with what was cleared.
    clears = api.event_logs(events=("post_clear_task_instances",), dag_id="nns_collect", run_id=run["dag_run_id"])
    by_operator = [e for e in clears if e["owner"] == "operator"]
    assert len(by_operator) == 1 and by_operator[0]["when"], clears
    assert json.loads(by_operator[0]["extra"])["task_ids"] == [["ingest", states[BROKEN]["map_index"]]]
    # Airflow logs a clear before it authorises it: the viewer's refused attempt is there too, by name.
    assert [e["owner"] for e in clears if e["owner"] != "operator"] == ["viewer"], clears

    run = api.wait_for_run("nns_collect", run["dag_run_id"], RUN_TIMEOUT)
    rerun = ingest_states(api, run["dag_run_id"])
    assert run["state"] == "success" and {ti["state"] for ti in rerun.values()} == {"success"}
    fixed = rerun[BROKEN]
    assert fixed["try_number"] == 2 and fixed["hostname"] in Deployment.WORKERS
    assert fixed["id"] in deployment.worker_log(fixed["hostname"]), "the worker's own log shows the workload"
    assert all(rerun[n]["try_number"] == 1 for n in rerun if n != BROKEN), "the good files were not rerun"

    announce = next(t for t in api.task_instances("nns_collect", run["dag_run_id"]) if t["task_id"] == "announce")
    build = api.wait_for_new_run("nns_build", announce["start_date"], RUN_TIMEOUT)
    assert build["run_type"] == "asset_triggered"
    build = api.wait_for_run("nns_build", build["dag_run_id"], RUN_TIMEOUT)
    build_tasks = {t["task_id"]: t for t in api.task_instances("nns_build", build["dag_run_id"])}
    assert build["state"] == "success", build_tasks
    assert build_tasks["publish"]["state"] == "success"
    assert {t["hostname"] for t in build_tasks.values()} <= set(Deployment.WORKERS)

    import duckdb

    with duckdb.connect(str(home / "publish" / "marts.duckdb"), read_only=True) as con:
        published = {r[0] for r in con.execute("select distinct federation_code from collection_status").fetchall()}
    assert set(GOOD) | {"SF07"} <= published, "the corrected file reached the published marts"
    print(f"\ndeployment up in {deployment.started_in:.0f} s {deployment.timings}; "
          f"collect, clear, rerun and build in {time.monotonic() - started:.0f} s")


def refused(call) -> int | None:
    """The HTTP status a call was refused with, or None if it went through."""
    try:
        call()
    except AirflowAPIError as exc:
        return exc.status
    return None


def anonymous_status(url: str, path: str, body: dict | None = None) -> int:
    request = urllib.request.Request(url + path, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def nns_command(deployment, *args) -> subprocess.CompletedProcess:
    """`nns ...` as an operator runs it against the deployment, with the operator's password file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NNS_", "AIRFLOW"))}
    env.update(NNS_HOME=str(deployment.nns_home), NNS_AIRFLOW_API_URL=deployment.url,
               NNS_AIRFLOW_USER="operator",
               NNS_AIRFLOW_PASSWORD_FILE=str(deployment.work / "operator_password"))
    return subprocess.run([str(Path(sys.executable).with_name("nns")), *args], env=env,
                          capture_output=True, text=True, timeout=2 * RUN_TIMEOUT + 60)


def nns_rerun(deployment, *args) -> subprocess.CompletedProcess:
    return nns_command(deployment, "rerun", *args)


def lake_rows(home: Path) -> dict:
    """The ledger less its write times, and every raw row: what the warehouse is built from."""
    import pyarrow.parquet as pq

    ledger = {}
    for path in (home / "lake" / "ledger").glob("*.json"):
        if path.read_text().strip():
            record = json.loads(path.read_text())
            ledger[record["submission_id"]] = {k: v for k, v in record.items() if k != "ingested_at"}
    raw = {str(p.relative_to(home)): sorted(map(str, pq.read_table(p).to_pylist()))
           for p in sorted((home / "lake" / "raw").rglob("*.parquet"))}
    return {"ledger": ledger, "raw": raw}


def test_nns_rerun_through_the_api_reprocesses_on_a_worker_without_duplicating(deployment):
    home = deployment.nns_home
    if not (home / "publish" / "marts.duckdb").exists():
        pytest.skip("needs the deployment state of the test before")
    # A second build would repeat what the test before proved, at a minute's cost: not here.
    deployment.api.set_paused("nns_build", True)
    before = lake_rows(home)

    nothing = nns_rerun(deployment, "--file", BROKEN)
    assert nothing.returncode == 1, nothing.stdout + nothing.stderr
    assert "Nothing to ingest" in nothing.stdout and "--force" in nothing.stdout

    forced = nns_rerun(deployment, "--federation", "sf07", "--force", "--timeout", str(RUN_TIMEOUT))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert f"{BROKEN}: success (on w" in forced.stdout, forced.stdout
    assert "nns_build is paused" in forced.stdout
    after = lake_rows(home)
    assert after == before, "reprocessing the same bytes leaves the same ledger and raw rows"
    sf07 = [r for r in after["ledger"].values() if r["file_name"] == BROKEN]
    assert sorted(r["status"] for r in sf07) == ["accepted", "rejected"], "both versions kept, once each"

    # `nns status` shows who did it: the rerun's trigger and the clear before it, by the operator.
    status = nns_command(deployment, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    section = status.stdout.split("Recent operator actions")[1].split("Needs attention")[0]
    # Each line: date, local time, zone, who, event, DAG, ...
    lines = [line.split() for line in section.splitlines()[1:] if line.strip()]
    assert lines[0][3:6] == ["operator", "trigger_dag_run", "nns_collect"], section
    assert any(line[3:5] == ["operator", "post_clear_task_instances"] for line in lines), section
    assert "nns rerun by" in section and '"force": true' in section, "what was asked, from the request"


def test_nns_rerun_says_when_the_deployment_cannot_be_used(deployment):
    env_password = {"NNS_AIRFLOW_PASSWORD": "wrong"}
    result = subprocess.run([str(Path(sys.executable).with_name("nns")), "rerun", "--file", BROKEN],
                            env={**{k: v for k, v in os.environ.items() if not k.startswith("NNS_")},
                                 "NNS_HOME": str(deployment.nns_home), "NNS_AIRFLOW_API_URL": deployment.url,
                                 **env_password}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "401" in result.stdout, result.stdout + result.stderr


def test_connections_are_stored_encrypted_and_only_an_admin_may_add_one(deployment):
    """The Fernet key (from its secret file) encrypts what connections hold; operators cannot touch them."""
    password = "not-in-the-database-" + os.urandom(6).hex()
    connection = {"connection_id": "nns_test_smtp", "conn_type": "smtp", "host": "mail.example.org",
                  "login": "nns", "password": password}
    assert refused(lambda: deployment.api.request("POST", "/api/v2/connections", connection)) == 403
    deployment.admin.request("POST", "/api/v2/connections", connection)
    postgres = deployment.postgres
    with psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user,
                          dbname=deployment.database) as con, con.cursor() as cur:
        cur.execute("select password, is_encrypted from connection where conn_id = 'nns_test_smtp'")
        stored, encrypted = cur.fetchone()
    assert encrypted and password not in stored, "the metadata database holds the password encrypted"
    assert Fernet(deployment.fernet_key.encode()).decrypt(stored.encode()).decode() == password
