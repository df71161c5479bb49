"""Measuring a child process: peak memory of its whole process tree, and the
per-stage breakdown of its DAG runs from Airflow's own metadata."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

try:
    import psutil  # a dependency of apache-airflow, so always installed with it
except ImportError as exc:  # pragma: no cover
    raise SystemExit("the benchmark needs psutil (installed with apache-airflow): run `make install`") from exc

SAMPLE_SECONDS = 0.1
GIB = 1024 ** 3


class TreeMemory:
    """Samples the resident set size (RSS) of a process and all its descendants
    every 100 ms and keeps the peak of their sum.

    The sum counts pages shared between processes (forked workers) once per
    process, so it is an upper bound on physical use; cgroup v1 here offers no
    per-tree memory.peak, so sampling is the measure. Peaks shorter than the
    interval can be missed.
    """

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self.peak_single_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in processes:
                try:
                    rss = p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                self.peak_single_bytes = max(self.peak_single_bytes, rss)
            self.peak_bytes = max(self.peak_bytes, total)
            self.samples += 1
            self._stop.wait(SAMPLE_SECONDS)


def run_measured(command: list[str], *, env: dict, cwd: Path | None = None, timeout: float = 3600) -> dict:
    """Run a command, sampling its process tree; wall time and peak memory."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeMemory(process.pid) as memory:
        output, _ = process.communicate(timeout=timeout)
    return {
        "returncode": process.returncode,
        "wall_s": round(time.monotonic() - started, 2),
        "peak_tree_rss_gib": round(memory.peak_bytes / GIB, 3),
        "peak_process_rss_gib": round(memory.peak_single_bytes / GIB, 3),
        "memory_samples": memory.samples,
        "output_tail": output[-3000:],
    }


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace(" ", "T"))


def stage_breakdown(airflow_db: Path, since_run_ids: set[str] | None = None) -> list[dict]:
    """Per DAG run and per task (mapped instances together): from the metadata DB,
    so a task added to a DAG shows up here without any change to the benchmark.

    `since_run_ids`: runs to leave out (those of an earlier measurement in the same home).
    """
    skip = since_run_ids or set()
    out = []
    with sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True) as db:
        runs = db.execute("select dag_id, run_id, state from dag_run").fetchall()
        for dag_id, run_id, state in runs:
            if run_id in skip:
                continue
            tasks = db.execute(
                "select task_id, state, start_date, end_date from task_instance "
                "where dag_id = ? and run_id = ? order by start_date", (dag_id, run_id)).fetchall()
            by_task: dict[str, dict] = {}
            for task_id, task_state, t_start, t_end in tasks:
                s, e = _when(t_start), _when(t_end)
                entry = by_task.setdefault(task_id, {"task_id": task_id, "instances": 0, "states": {},
                                                     "first_start": s, "last_end": e, "sum_s": 0.0})
                entry["instances"] += 1
                entry["states"][task_state] = entry["states"].get(task_state, 0) + 1
                if s and e:
                    entry["sum_s"] += (e - s).total_seconds()
                if s and (entry["first_start"] is None or s < entry["first_start"]):
                    entry["first_start"] = s
                if e and (entry["last_end"] is None or e > entry["last_end"]):
                    entry["last_end"] = e
            task_rows = []
            for entry in by_task.values():
                span = ((entry["last_end"] - entry["first_start"]).total_seconds()
                        if entry["first_start"] and entry["last_end"] else None)
                task_rows.append({
                    "task_id": entry["task_id"],
                    "instances": entry["instances"],
                    "states": entry["states"],
                    "span_s": round(span, 2) if span is not None else None,
                    "sum_s": round(entry["sum_s"], 2),
                    "per_instance_s": round(entry["sum_s"] / entry["instances"], 3),
                })
            starts = [x["first_start"] for x in by_task.values() if x["first_start"]]
            ends = [x["last_end"] for x in by_task.values() if x["last_end"]]
            out.append({
                "dag_id": dag_id, "run_id": run_id, "state": state,
                # From its tasks: dag.test() records a manual run's logical date as its start.
                "run_s": round((max(ends) - min(starts)).total_seconds(), 2) if starts and ends else None,
                "first_start": min(starts) if starts else None,
                "tasks": task_rows,
            })
    out.sort(key=lambda run: (run["first_start"] is None, run["first_start"] or datetime.min))
    for run in out:
        run["first_start"] = run["first_start"].isoformat() if run["first_start"] else None
    return out


def run_ids(airflow_db: Path) -> set[str]:
    if not airflow_db.exists():
        return set()
    with sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True) as db:
        return {r[0] for r in db.execute("select run_id from dag_run")}
