"""`make bench`: the benchmark. Writes bench/results.json and bench/results.md.

For each profile (BENCH_PROFILES, default "small national x10") it generates the
synthetic data once (timed, reported, not part of end to end), then BENCH_RUNS
times (default 3), each in a fresh data home:

1. end to end through Airflow's dag.test(): nns_collect, nns_registers and
   nns_build (dbt, the gate when the DAG has it, publish, reports) in one child
   process, with the peak RSS of its whole process tree and a per-task breakdown
   read from the run's own Airflow metadata DB;
2. analyst queries (bench/queries.sql) on the published database, the read
   API (bench/api.py): /data and /metadata latency, and 20 clients for 30 s,
   disclosure control (bench/methods.py): the Cell Key Method and suppression side by side
   on the run's warehouse (protection time, the attacker's audit, what readers can see,
   the default method's targets), and under suppression the secondary cells
   chosen smallest first against minimum loss, with proven lower bounds
   (bench/secondary.py);
3. the dbt models behind the indicator marts and indicator 11 against the
   hand-written floor (bench/floor.sql), checked equal;
4. the nightly increment: one new submission, then nns_collect and nns_build;
   then a night with nothing new (nns_collect, nns_build), which must leave the
   published database as it is.

The disclosure comparison (both methods, secondary cells) runs in the first run
only: it reads the same warehouse every run, and on national takes minutes.

Excel ingestion (calamine + contract against pandas/openpyxl + contract) runs
BENCH_RUNS times on the national survey files (the first profile's if national
is not benchmarked). Every figure reported is the median over the runs.

    BENCH_RUNS=1 BENCH_PROFILES=small make bench     # a quick check, about 5 minutes
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from bench import api as api_bench
from bench import excel, floor
from bench import methods as methods_bench
from bench import reports as reports_bench
from bench import secondary as secondary_bench
from bench.measure import GIB, run_ids, run_measured, stage_breakdown
from core.settings import REPO_ROOT, Settings, get_settings

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / "work"
QUERIES = BENCH_DIR / "queries.sql"
PACKAGES = ("apache-airflow", "dbt-core", "dbt-duckdb", "duckdb", "pandas", "openpyxl", "python-calamine",
            "pyarrow", "typst", "great-expectations", "psutil")
QUERY_REPEATS = 30

# The targets of issues #18 and #31 (2 cores, 24 GiB); queries and the API from issues #7 and #16.
TARGETS = {
    "national": {"e2e_s": 90, "peak_gib": 3.0, "increment_s": 20, "nothing_new_s": 10},
    "x10": {"e2e_s": 240, "peak_gib": 6.0, "increment_s": 30, "nothing_new_s": 10},
    "excel_ratio": 8.0,  # calamine + the contract against pandas + openpyxl + the contract
    "dbt_floor_ratio": 1.5,  # dbt's node time against bench/floor.sql, on national and on x10
    "query_ms": 50,
    "api_data_ms": 50,  # a typical /data request, median, on national
}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def machine() -> dict:
    import psutil

    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True).stdout.strip() or None
    except OSError:
        commit = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _settings_for(home: Path) -> Settings:
    os.environ["NNS_HOME"] = str(home)
    return get_settings()


def _nights(profile: str, settings: Settings) -> tuple[datetime, datetime]:
    """The e2e night (inside the latest period's main window) and the next night (the increment).

    Neither is the night the window closes, when everything is built fresh by rule
    (operations.changes): the increment is an ordinary night of the window."""
    from core.catalogue import load_catalogue
    from synthetic import PROFILES

    latest = PROFILES[profile].periods[-1]
    window = [w for w in load_catalogue(settings.catalogue_dir).windows if w.period == latest][-1]
    night = datetime.combine(window.closes_on - timedelta(days=2), clock(1, 30), ZoneInfo(settings.timezone))
    return night, night + timedelta(days=1)


def generate_profile(profile: str) -> dict:
    """The profile's inbox, generated once; every run starts from a hard-linked copy."""
    from synthetic import generate

    template = WORK / f"template-{profile}"
    shutil.rmtree(template, ignore_errors=True)
    settings = _settings_for(template)
    started = time.monotonic()
    summary = generate(profile, settings.inbox, settings)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["template"] = str(template)
    return summary


def _fresh_home(profile: str, run: int) -> Path:
    home = WORK / f"{profile}-run{run}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    # Hard links: the generated files keep their bytes and modification times (received_at).
    shutil.copytree(WORK / f"template-{profile}" / "inbox", home / "inbox", copy_function=os.link)
    return home


def _child(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bench.e2e", "--home", str(home), *args]


def _child_env(home: Path) -> dict:
    return {**os.environ, "NNS_HOME": str(home)}


def pipeline(home: Path, night: datetime, dags: str, label: str, env: dict | None = None) -> dict:
    """One measured child process running the given DAGs; with the per-task breakdown."""
    airflow_db = home / "airflow" / "airflow.db"
    before = run_ids(airflow_db)
    result_file = home / f"{label}.json"
    measured = run_measured(_child(home, "--run-after", night.isoformat(), "--dags", dags,
                                   "--out", str(result_file), "--log", str(home / "logs" / f"{label}-airflow.log")),
                            env={**_child_env(home), **(env or {})}, cwd=REPO_ROOT)
    if measured["returncode"] != 0 or not result_file.exists():
        raise RuntimeError(f"{label} in {home} failed (exit {measured['returncode']}); see "
                           f"{home / 'logs' / f'{label}-airflow.log'}\n{measured['output_tail']}")
    measured.pop("output_tail")
    measured["child"] = json.loads(result_file.read_text())
    measured["breakdown"] = stage_breakdown(airflow_db, before)
    return measured


def stages(measured: dict) -> dict[str, float]:
    """Flat stage times of one pipeline run: per DAG (dag.test() wall), per task
    (mapped instances summed), and what is left for Airflow around the tasks."""
    out = {"process start, imports": round(measured["wall_s"] - sum(d["wall_s"] for d in measured["child"]["dags"]), 2)}
    walls = {d["dag_id"]: d["wall_s"] for d in measured["child"]["dags"]}
    for run in measured["breakdown"]:
        dag = run["dag_id"]
        task_total = 0.0
        for task in run["tasks"]:
            out[f"{dag}.{task['task_id']}"] = task["sum_s"]
            task_total += task["sum_s"]
        if dag in walls:
            out[f"{dag} (dag.test outside tasks)"] = round(walls[dag] - task_total, 2)
    return out


def analyst_queries(settings: Settings, repeats: int = QUERY_REPEATS) -> dict:
    text = QUERIES.read_text(encoding="utf-8")
    queries = {}
    for block in re.split(r"^-- query: ", text, flags=re.MULTILINE)[1:]:
        name, _, sql = block.partition("\n")
        queries[name.split()[0]] = sql.strip().rstrip(";")
    path = settings.published_database
    started = time.perf_counter()
    con = duckdb.connect(str(path), read_only=True)
    connect_ms = (time.perf_counter() - started) * 1000
    out = {"connect_ms": round(connect_ms, 2), "queries": {}}
    try:
        for name, sql in queries.items():
            times, rows = [], 0
            for _ in range(repeats):
                t = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                times.append((time.perf_counter() - t) * 1000)
            out["queries"][name] = {"median_ms": round(statistics.median(times), 2),
                                    "max_ms": round(max(times), 2), "rows": rows}
    finally:
        con.close()
    return out


def increment(profile: str, home: Path, night: datetime) -> dict:
    """One new submission among everything loaded, then the nightly DAGs end to end."""
    from core import ledger
    from core.catalogue import load_catalogue
    from synthetic import PROFILES
    from synthetic.surveys import write_resubmission

    settings = _settings_for(home)
    catalogue = load_catalogue(settings.catalogue_dir)
    period = PROFILES[profile].periods[-1]
    federation = next(f.code for f in catalogue.federations_in(period)
                      if PROFILES[profile].federation_codes is None or f.code in PROFILES[profile].federation_codes)
    path = write_resubmission(settings.inbox, PROFILES[profile], catalogue, federation, period, seed=7)
    # The file arrived during the day: taken at once (NNS_STABLE_SECONDS=0). With the default 60 s the
    # collection, seconds after the file was written, waits for it to settle and ingests nothing.
    # The replayed night is "today" for the build's closing-night rule (NNS_AS_OF), so the increment is
    # built as the ordinary night it is. Not on the end-to-end night: the small profile's register
    # extracts are dated after its last window, and would be refused as from the future.
    measured = pipeline(home, night, "nns_collect,nns_build", "increment",
                        env={"NNS_STABLE_SECONDS": "0", "NNS_AS_OF": night.date().isoformat()})
    measured["submission"] = path.name
    if not any(r.file_name == path.name and r.accepted for r in ledger.all_records(settings)):
        raise RuntimeError(f"the increment's file {path.name} was not ingested")
    return measured


def nothing_new(home: Path, night: datetime) -> dict:
    """A later night of the same day with nothing new: nns_collect, then nns_build as if triggered (by hand,
    or by the other DAG's asset). It must publish nothing new: the published file is left as it is."""
    from warehouse.identity import file_identity

    settings = _settings_for(home)
    before = file_identity(settings.published_database)
    measured = pipeline(home, night, "nns_collect,nns_build", "nothing_new",
                        env={"NNS_STABLE_SECONDS": "0", "NNS_AS_OF": night.date().isoformat()})
    if file_identity(settings.published_database) != before:
        raise RuntimeError("the night with nothing new wrote the published database")
    return measured


def one_run(profile: str, run: int, nights: tuple[datetime, datetime], keep: bool) -> dict:
    home = _fresh_home(profile, run)
    settings = _settings_for(home)
    started = time.monotonic()
    subprocess.run(_child(home, "--prepare"), env=_child_env(home), cwd=REPO_ROOT, check=True)
    result = {"home": str(home), "airflow_db_setup_s": round(time.monotonic() - started, 1)}
    print(f"  run {run}: end to end ...", flush=True)
    # Everything was generated before the night (NNS_STABLE_SECONDS=0: nothing is still being written);
    # a file left in the inbox was refused, and the figures would be of a smaller publication.
    result["e2e"] = pipeline(home, nights[0], "nns_collect,nns_registers,nns_build", "e2e",
                             env={"NNS_STABLE_SECONDS": "0"})
    left = sorted(p.name for p in settings.inbox.rglob("*") if p.is_file())
    if left:
        raise RuntimeError(f"the end-to-end night left {len(left)} file(s) in the inbox: {left[:5]}")
    result["e2e"]["dbt_build"] = floor.run_results_summary(settings.dbt_target)
    result["e2e"]["stages"] = stages(result["e2e"])
    print(f"    {result['e2e']['wall_s']:.0f} s, peak {result['e2e']['peak_tree_rss_gib']:.2f} GiB; "
          "analyst queries ...", flush=True)
    result["queries"] = analyst_queries(settings)
    print("    the read API: latency, then 20 clients for 30 s ...", flush=True)
    result["api"] = api_bench.measure(home)
    if run == 1:  # the same warehouse every run: what readers see is the same, and it takes minutes
        print("    disclosure control: both methods, their audits and what readers can see ...", flush=True)
        result["methods"] = methods_bench.measure(settings)
        print("    secondary cells: smallest first against minimum loss, and the lower bounds ...", flush=True)
        result["secondary"] = secondary_bench.measure(settings)
    print("    the reports: every document from a cold start, and a night with one federation changed ...",
          flush=True)
    result["reports"] = reports_bench.measure(home)
    print("    nightly increment ...", flush=True)
    result["increment"] = increment(profile, home, nights[1])
    result["increment"]["stages"] = stages(result["increment"])
    print("    a night with nothing new ...", flush=True)
    result["nothing_new"] = nothing_new(home, nights[1] + timedelta(hours=2))
    result["nothing_new"]["stages"] = stages(result["nothing_new"])
    # After the increment: the floor's dbt run writes the warehouse, and a warehouse written since its
    # recorded build is built in full (operations.changes), which would make the increment a full night.
    result["floor"] = floor.compare(settings, home)
    print(f"    increment {result['increment']['wall_s']:.0f} s; nothing new {result['nothing_new']['wall_s']:.1f} s; "
          f"dbt nodes {result['floor']['dbt']['nodes_s']:.1f} s "
          f"against the floor's {result['floor']['floor_s']:.1f} s", flush=True)
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def summarise(profile: str, generated: dict, runs: list[dict]) -> dict:
    def m(get):
        return median([get(r) for r in runs])

    def stage_names(part: str) -> list[str]:
        """Every stage any run of `part` has, in first-seen order."""
        names = []
        for r in runs:
            names += [s for s in r[part]["stages"] if s not in names]
        return names

    def stage_medians(part: str) -> dict:
        return {s: m(lambda r, s=s: r[part]["stages"].get(s)) for s in stage_names(part)}
    first = runs[0]
    collect_tasks = next((t for b in first["e2e"]["breakdown"] if b["dag_id"] == "nns_collect"
                          for t in b["tasks"] if t["task_id"] == "ingest"), {})
    return {
        "profile": profile,
        "runs": len(runs),
        "generate_s": generated["seconds"],
        "survey_files": generated["surveys"]["files"],
        "questionnaires": generated["surveys"]["questionnaires"],
        "income_rows": generated.get("registers", {}).get("income_rows"),
        "sus_rows": generated.get("registers", {}).get("sus_rows"),
        "e2e_s": m(lambda r: r["e2e"]["wall_s"]),
        "e2e_peak_gib": m(lambda r: r["e2e"]["peak_tree_rss_gib"]),
        "e2e_peak_process_gib": m(lambda r: r["e2e"]["peak_process_rss_gib"]),
        "e2e_stages_s": stage_medians("e2e"),
        "e2e_dags_s": {d["dag_id"]: m(lambda r, d=d: next(x["wall_s"] for x in r["e2e"]["child"]["dags"]
                                                           if x["dag_id"] == d["dag_id"]))
                       for d in first["e2e"]["child"]["dags"]},
        "ingest_tasks": collect_tasks.get("instances"),
        "ingest_per_task_s": m(lambda r: next((t["per_instance_s"] for b in r["e2e"]["breakdown"]
                                               if b["dag_id"] == "nns_collect" for t in b["tasks"]
                                               if t["task_id"] == "ingest"), None)),
        "dbt_build": {
            "elapsed_s": m(lambda r: r["e2e"]["dbt_build"]["elapsed_s"]),
            "by_kind_s": {k: m(lambda r, k=k: r["e2e"]["dbt_build"]["by_kind"].get(k, {}).get("execution_s"))
                          for k in first["e2e"]["dbt_build"]["by_kind"]},
            "slowest": first["e2e"]["dbt_build"]["slowest"],
        },
        "floor": {
            "dbt_wall_s": m(lambda r: r["floor"]["dbt"]["wall_s"]),
            "dbt_elapsed_s": m(lambda r: r["floor"]["dbt"]["elapsed_s"]),
            "dbt_nodes_s": m(lambda r: r["floor"]["dbt"]["nodes_s"]),
            "dbt_startup_s": m(lambda r: r["floor"]["dbt"]["startup_s"]),
            "floor_s": m(lambda r: r["floor"]["floor_s"]),
            "ratio_nodes": m(lambda r: r["floor"]["ratio_nodes"]),
            "ratio_wall": m(lambda r: r["floor"]["ratio_wall"]),
            "rows_checked_equal": first["floor"]["rows"],
            "slowest_nodes": first["floor"]["dbt"]["slowest"],
        },
        "increment_s": m(lambda r: r["increment"]["wall_s"]),
        "increment_peak_gib": m(lambda r: r["increment"]["peak_tree_rss_gib"]),
        "increment_stages_s": stage_medians("increment"),
        "nothing_new_s": m(lambda r: r["nothing_new"]["wall_s"]),
        "nothing_new_stages_s": stage_medians("nothing_new"),
        "queries_connect_ms": m(lambda r: r["queries"]["connect_ms"]),
        "api": {key: m(lambda r, key=key: r["api"][key])
                for key in ("data_median_ms", "metadata_median_ms", "requests", "errors", "requests_per_s",
                            "load_peak_rss_gib")} | {"clients": first["api"]["clients"],
                                                     "seconds": first["api"]["seconds"]},
        "methods": first.get("methods"),
        "reports": {**first["reports"], **{key: m(lambda r, key=key: r["reports"][key])
                                           for key in ("cold_all_s", "cold_html_only_s", "per_document_s",
                                                       "unchanged_night_s", "one_federation_changed_s")}},
        "secondary": first.get("secondary"),
        "queries_ms": {q: m(lambda r, q=q: r["queries"]["queries"][q]["median_ms"])
                       for q in first["queries"]["queries"]},
    }


def excel_ingestion(profile: str, runs_wanted: int) -> dict:
    files = sorted((WORK / f"template-{profile}" / "inbox").glob("*.xlsx"))
    print(f"Excel ingestion on {len(files)} workbooks ({profile}) ...", flush=True)
    runs = [excel.compare(files, get_settings()) for _ in range(runs_wanted)]
    return {
        "profile": profile, "files": runs[0]["files"], "bytes": runs[0]["bytes"],
        "rows": runs[0]["calamine"]["rows"],
        "calamine_rows_per_s": median([r["calamine"]["rows_per_s"] for r in runs]),
        "calamine_read_s": median([r["calamine"]["read_s"] for r in runs]),
        "calamine_validate_s": median([r["calamine"]["validate_s"] for r in runs]),
        "openpyxl_rows_per_s": median([r["pandas_openpyxl"]["rows_per_s"] for r in runs]),
        "openpyxl_read_s": median([r["pandas_openpyxl"]["read_s"] for r in runs]),
        "openpyxl_validate_s": median([r["pandas_openpyxl"]["validate_s"] for r in runs]),
        "ratio": median([r["ratio"] for r in runs]),
        "read_only_ratio": median([r["read_only_ratio"] for r in runs]),
        "runs": runs,
    }


def write(results: dict, started: float) -> None:
    from bench.report import write_pages

    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["bench_s"] = round(time.monotonic() - started, 1)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    try:
        write_pages(results, BENCH_DIR, REPO_ROOT / "README.md")
    except Exception:  # the figures are safe in results.json; `python -m bench.report` rewrites both
        traceback.print_exc()


def main() -> int:
    runs_wanted = _env_int("BENCH_RUNS", 3)
    profiles = os.environ.get("BENCH_PROFILES", "small national x10").split()
    from synthetic import PROFILES
    from synthetic.demo import use_throwaway_secrets

    unknown = [p for p in profiles if p not in PROFILES]
    if unknown or runs_wanted < 1:
        print(f"BENCH_PROFILES must name profiles from {sorted(PROFILES)}; BENCH_RUNS at least 1", file=sys.stderr)
        return 2
    use_throwaway_secrets("benchmark")  # as the demo does, unless the environment sets its own
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"BENCH_RUNS": runs_wanted, "BENCH_PROFILES": profiles,
                     "note": os.environ.get("BENCH_NOTE", "").strip(),
                     "duckdb_memory_limit": get_settings().duckdb_memory_limit,
                     "duckdb_threads": get_settings().duckdb_threads,
                     "memory_measure": "peak of the summed RSS of the child process and all its descendants, "
                                       "sampled every 100 ms with psutil (cgroup v1 here: no per-tree memory.peak)"},
        "targets": TARGETS,
        "profiles": {},
        "runs": {},
    }
    excel_profile = "national" if "national" in profiles else profiles[0]
    for profile in profiles:
        print(f"{profile}: generating ...", flush=True)
        generated = generate_profile(profile)
        nights = _nights(profile, get_settings())
        runs = [one_run(profile, i, nights, keep=(i == runs_wanted)) for i in range(1, runs_wanted + 1)]
        results["runs"][profile] = {"generated": generated, "runs": runs}
        results["profiles"][profile] = summarise(profile, generated, runs)
        if profile == excel_profile:
            results["excel"] = excel_ingestion(profile, runs_wanted)
        write(results, started)  # after every profile, so a long run leaves what it has
    print(f"Wrote {BENCH_DIR / 'results.md'} and results.json in {results['bench_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
