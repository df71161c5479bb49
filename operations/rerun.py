"""`nns rerun`: collect one federation's or one file's submissions again, then build.

With a deployment configured (NNS_AIRFLOW_API_URL) it triggers a new `nns_collect`
run through the REST API, waits for it and for the `nns_build` run its asset event
starts; otherwise it runs the same DAGs here with embedded Airflow. A new run (rather
than clearing the failed task) lists the inbox as it is now, so a corrected file is
found whatever its name; `force` reprocesses files the ledger has already seen.
Every task is idempotent, so a rerun never duplicates anything.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from operations.orchestration import rest_api

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


@dataclass
class CollectResult:
    state: str
    files: list[tuple[str, str, str | None]] = field(default_factory=list)  # (file, state, host)
    announced: bool = False  # the asset event went out: nns_build will run
    announce_started: str | None = None

    @property
    def failed(self) -> list[str]:
        return [f for f, state, _ in self.files if state != "success"]


def conf_for(federation: str | None, file_name: str | None, force: bool) -> dict:
    conf = {"force": bool(force)}
    if federation:
        conf["federation"] = federation.upper()
    if file_name:
        conf["file"] = file_name
    return conf


def summarise(state: str, task_instances: list[dict]) -> CollectResult:
    result = CollectResult(state=state)
    for ti in task_instances:
        if ti["task_id"] == "ingest" and ti["map_index"] >= 0:
            result.files.append((ti.get("rendered_map_index") or str(ti["map_index"]), ti["state"], ti.get("hostname")))
        elif ti["task_id"] == "announce":
            result.announced = ti["state"] == "success"
            result.announce_started = ti.get("start_date")
    return result


def print_collect(result: CollectResult, run_label: str, out=print) -> None:
    out(f"nns_collect {run_label}: {result.state}")
    for name, state, host in result.files:
        out(f"  {name}: {state}" + (f" (on {host})" if host else ""))
    if result.failed:
        out("  Failed files: the task log says why (and lake/quarantine/<submission>/errors.json for a "
            "rejected file). Put a corrected file in the inbox and run `nns rerun` again.")


def rerun(settings, *, federation: str | None, file_name: str | None, force: bool = False,
          build: bool = True, timeout: float = 1800, out=print) -> int:
    conf = conf_for(federation, file_name, force)
    api = rest_api.from_settings(settings)  # ValueError (usage) when half-configured
    if api is None:
        return rerun_locally(settings, conf, build=build, out=out)
    try:
        return rerun_through_api(api, conf, build=build, timeout=timeout, out=out)
    except rest_api.WaitTimeout as exc:
        out(f"nns rerun: {exc}")
        return EXIT_PROBLEM
    except rest_api.AirflowAPIError as exc:
        out(f"nns rerun: the deployment's API at {api.url} refused or failed: {exc}")
        return EXIT_USAGE if exc.status in (None, 401, 403, 404) else EXIT_PROBLEM


def rerun_through_api(api, conf: dict, *, build: bool, timeout: float, out=print) -> int:
    if api.dag("nns_collect")["is_paused"]:
        out("nns rerun: nns_collect is paused in the deployment; unpause it first (UI or API)")
        return EXIT_USAGE
    run = api.trigger("nns_collect", conf, note=f"nns rerun by {getpass.getuser()}: {conf}")
    out(f"Triggered nns_collect {run['dag_run_id']} with {conf} at {api.url}")
    run = api.wait_for_run("nns_collect", run["dag_run_id"], timeout)
    result = summarise(run["state"], api.task_instances("nns_collect", run["dag_run_id"]))
    print_collect(result, run["dag_run_id"], out)
    code = _collect_exit(result, conf, out)
    if not (build and result.announced):
        return code
    if api.dag("nns_build")["is_paused"]:
        out("nns_build is paused in the deployment: unpause it to build and publish what landed")
        return code
    build_run = api.wait_for_new_run("nns_build", result.announce_started, timeout)
    build_run = api.wait_for_run("nns_build", build_run["dag_run_id"], timeout)
    out(f"nns_build {build_run['dag_run_id']}: {build_run['state']}")
    return code if build_run["state"] == "success" else EXIT_PROBLEM


def rerun_locally(settings, conf: dict, *, build: bool, out=print) -> int:
    # Lazy: embedded Airflow costs 1.5–6 s to import and must be configured first (orchestration.embedded).
    from operations.orchestration import embedded

    out(f"No deployment configured (NNS_AIRFLOW_API_URL): running nns_collect here with {conf}")
    embedded.prepare(settings)
    state, tis = embedded.run_dag_with_tasks("nns_collect", conf=conf)
    result = summarise(state, tis)
    print_collect(result, "(embedded Airflow)", out)
    code = _collect_exit(result, conf, out)
    if build and result.announced:
        build_state = embedded.run_dag("nns_build")
        out(f"nns_build (embedded Airflow): {build_state}")
        if not build_state.endswith("success"):
            return EXIT_PROBLEM
    return code


def _collect_exit(result: CollectResult, conf: dict, out) -> int:
    if not result.state.endswith("success") or result.failed:
        return EXIT_PROBLEM
    if not result.files:
        what = f"file {conf['file']}" if "file" in conf else f"federation {conf.get('federation')}"
        hint = "" if conf["force"] else " (files already loaded are only taken again with --force)"
        out(f"Nothing to ingest for {what}: no such file in the inbox{hint}")
        return EXIT_PROBLEM
    return EXIT_OK
