"""One timed pipeline run in its own process: the benchmark's parent samples
this process tree's memory from outside, so nothing here measures memory.

    python -m bench.e2e --home DIR --run-after ISO --dags nns_collect,nns_registers,nns_build --out result.json
    python -m bench.e2e --home DIR --prepare      (migrate the embedded metadata DB; not timed)

The wall time per dag.test() call is measured here; the per-task breakdown is
read afterwards from the metadata DB (bench.measure.stage_breakdown).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path


def main() -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--run-after")
    parser.add_argument("--dags", default="nns_collect,nns_registers,nns_build")
    parser.add_argument("--out")
    parser.add_argument("--log")
    parser.add_argument("--prepare", action="store_true")
    args = parser.parse_args()
    os.environ["NNS_HOME"] = str(Path(args.home).resolve())

    from core.settings import get_settings
    from operations.orchestration import embedded
    from synthetic.demo import _output_to

    settings = get_settings()
    if args.prepare:
        embedded.prepare(settings)
        return 0
    log_file = Path(args.log) if args.log else settings.logs / "bench-airflow.log"
    run_after = datetime.fromisoformat(args.run_after) if args.run_after else None
    result = {"dags": []}
    with _output_to(log_file):
        embedded.prepare(settings)  # a no-op when --prepare ran first
        imported = time.monotonic()
        import airflow  # noqa: F401  (import cost reported on its own)

        result["airflow_import_s"] = round(time.monotonic() - imported, 2)
        for dag_id in args.dags.split(","):
            step = time.monotonic()
            # nns_collect is the only DAG whose schedule reads the date (the calendar).
            state = embedded.run_dag(dag_id, run_after=run_after if dag_id == "nns_collect" else None)
            result["dags"].append({"dag_id": dag_id, "state": state, "wall_s": round(time.monotonic() - step, 2)})
    result["in_process_s"] = round(time.monotonic() - started, 2)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0 if all(d["state"].endswith("success") for d in result["dags"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
