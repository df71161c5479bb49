"""Where the time goes and why: the analysis behind the results, with the
figures of the run filled in (the last section of bench/results.md).

The causes below were found by profiling (cProfile, and py-spy for the
threads of Airflow's in-process API server) while building the benchmark; the
figures in brackets come from the run that wrote the page."""

from __future__ import annotations


def _s(seconds) -> str:
    return "–" if seconds is None else f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _stage(p: dict, name: str, kind: str = "e2e_stages_s"):
    return p[kind].get(name)


def FINDINGS(r: dict) -> str:  # noqa: N802  (reads as a section)
    profiles = r["profiles"]
    p = profiles.get("national") or profiles.get("x10") or next(iter(profiles.values()))
    name = p["profile"]
    x10 = profiles.get("x10")
    f = p["floor"]
    out = ["## Findings: why, and what was changed", ""]

    # End to end
    collect = _stage(p, "nns_collect.ingest")
    reports = _stage(p, "nns_build.reports")
    dbt = _stage(p, "nns_build.dbt_build")
    first_task = _stage(p, "nns_collect.collection_window_open", "nothing_new_stages_s")
    out += [
        "### End to end",
        "",
        f"On `{name}` the largest stages are the mapped ingest tasks ({p['ingest_tasks']} tasks, {_s(collect)} "
        f"summed, {p['ingest_per_task_s']:.2f} s each), the reports ({_s(reports)}), staging "
        f"({_s(_stage(p, 'nns_build.stage'))}) and the quality gate ({_s(_stage(p, 'nns_build.quality_gate'))}), "
        f"and the dbt build ({_s(dbt)}).",
        "",
        "- **Per mapped task in `nns_collect`.** Under `dag.test()` every task instance goes through Airflow's "
        "in-process Execution API: a FastAPI app (Cadwyn-versioned routes) behind a WSGI bridge, on the SQLite "
        "metadata DB. One ingest task makes about seven API round trips (start, rendered map index, XCom, "
        "state, ...) of 10–20 ms each, mostly request handling in Python; SQLite commits (about 1 ms each) and "
        "logging are small in the profile. Our own work per file (read, validate, write Parquet, fsync the "
        "ledger) is 15–50 ms. The first task of each process also pays for the API itself, which builds its "
        f"versioned routes on its first request ({_s(first_task)} for `collection_window_open` on the night with "
        "nothing new, where it does almost nothing else), and imports the task code. No Airflow setting "
        "removes the per-task API calls in `dag.test()`; the one-task-per-file design is an operations "
        "requirement and stays. (Changed: see below, one XCom per task instead of ten.)",
        "- **Reports.** Typst (the `typst` wheel, in process) typesets one PDF per federation plus the "
        "national and popular reports, in a pool of two processes that share every result read once before "
        "they fork; the charts are SVG written by hand (`report/charts.py`). Per document the time goes to "
        "Typst's layout and the charts it embeds (docs/reports.md).",
        "- **dbt build.** See section 3: process start-up, then the models, the data tests and the unit tests.",
        f"- **Staging and the quality gate** ({_s(_stage(p, 'nns_build.stage'))} and "
        f"{_s(_stage(p, 'nns_build.quality_gate'))}). Staging writes the one candidate, protected by the "
        "Cell Key Method (the default: every count perturbed, `publication.ckm`). The gate's blocking suite "
        "`disclosure_attack` then audits the written file (`publication.attack`, HiGHS linear programs over "
        "every perturbed count and documented relation; "
        f"{_s(((p.get('methods') or {}).get('ckm') or {}).get('audit_seconds'))} on this profile), and the "
        "Great Expectations suites of what changed run. Publishing is then a checksum check and a rename "
        f"({_s(_stage(p, 'nns_build.publish'))}). Both methods side by side are in the disclosure section.",
        "- **Process start.** `PYTHONDONTWRITEBYTECODE=1` is set on these machines, so every Python process "
        "compiled about a thousand modules of Airflow, dbt and their dependencies from source again "
        "(importing Airflow took 5.3 s). (Changed: bytecode compiled at install, see below.)",
        "",
    ]

    # Floor
    out += ["### dbt against the floor", ""]
    out.append(
        f"On `{name}` dbt's models take {_s(f['dbt_nodes_s'])} of node time against the floor's {_s(f['floor_s'])} "
        f"({f['ratio_nodes']}×), and the dbt process needs {_s(f['dbt_startup_s'])} more to start "
        "(imports, reading the project and manifest, connecting); with start-up the ratio is "
        f"{f['ratio_wall']}×. Why the nodes cost more than the floor:")
    out += [
        "",
        "- **Materialisations.** Every intermediate model is a table written into `warehouse.duckdb` and read "
        "back by the next model; the floor keeps everything in one plan and writes only the three results. "
        "Each dbt node also pays its own round of compiling, a transaction and a DuckDB checkpoint "
        "(a small model takes 0.2–0.4 s of node time even when it holds a few rows).",
        "- **Per-node overhead.** Against the floor's one plan, each dbt node costs about 0.15 s as a view and "
        "0.3–0.4 s as a table before it does any work; on national that is about as much as the floor's whole run.",
        "- **Work the floor does not do.** The record keys of the Cell Key Method (an HMAC per SUS record, in "
        "DuckDB) and the participants table, which other marts and the gate also read.",
        "- **The plan.** `int_register__monthly_main_support` is computed for the follow-up months only (macro "
        "`followup_points`: linkable ended insatser × 6, 12 and 24 months), as the floor does; on x10 what "
        "remains is mostly the string joins on `person_key` in the follow-ups and in the main support.",
    ]
    slowest = "; ".join(f"{n['node'].split('.')[-1]} {n['s']:.1f} s" for n in f["slowest_nodes"][:4])
    out += ["", f"Slowest models in the run: {slowest}."]
    if x10:
        fx = x10["floor"]
        verdict = "within" if fx["ratio_nodes"] <= r["targets"]["dbt_floor_ratio"] else "above"
        out += ["", f"On x10: {_s(fx['dbt_nodes_s'])} against {_s(fx['floor_s'])}, {fx['ratio_nodes']}× "
                f"({verdict} the {r['targets']['dbt_floor_ratio']}× target)."]
        main = next((n["s"] for n in fx["slowest_nodes"]
                     if n["node"].endswith("int_register__monthly_main_support")), None)
        if main is not None:
            out += [f"`int_register__monthly_main_support` takes {_s(main)} of it (follow-up months only)."]
    out += [""]

    # Increment
    out += ["### Nightly increment", ""]
    inc = p["increment_stages_s"]
    out.append(
        f"One new survey file costs {_s(p['increment_s'])} end to end on `{name}`. The night builds only what "
        "changed (docs/operations.md, \"What a night rebuilds\"): dbt builds the survey models and the marts "
        f"they feed, not the register models ({_s(inc.get('nns_build.dbt_build'))}); staging perturbs every "
        f"table again ({_s(inc.get('nns_build.stage'))}); the gate runs the suites of the survey source and "
        "the attacker's audit over the whole publication, whose model it builds whole but whose linear "
        "programs it solves only for the connected sets that changed since the last gate "
        f"({_s(inc.get('nns_build.quality_gate'))}). Reports are keyed by the rows they "
        f"read ({_s(inc.get('nns_build.reports'))}); every federation report shows national values, and a new "
        "file in the latest period moves them, so all reports of that period are written again. Around the "
        "work, each process start and the first task of each process (Airflow's in-process Execution API "
        "building its versioned routes) cost seconds that a deployed Airflow pays once per server, not per "
        "night. The 20 s target is out of reach while every night protects the whole publication, builds the "
        "audit's model whole and rewrites every report that compares with the nation.")
    nothing = p["nothing_new_stages_s"]
    out += ["", f"A night with nothing new takes {_s(p['nothing_new_s'])} on `{name}`"
            + (f" and {_s(x10['nothing_new_s'])} on x10" if x10 and x10 is not p else "")
            + f": process start and imports {_s(nothing.get('process start, imports'))}, the first task "
            f"{_s(first_task)} (the API's routes, above), the rest of `nns_collect`'s `dag.test()` "
            f"{_s(nothing.get('nns_collect (dag.test outside tasks)'))}, and `nns_build`, whose plan skips "
            f"everything, {_s(nothing.get('nns_build.plan'))} for the plan. Our own work is the plan and "
            "`new_files`; the rest is Airflow's start in a new process, which a deployed scheduler does not repeat "
            "each night.", ""]

    # Changes
    out += [
        "### Changes made for speed",
        "",
        "Behaviour is unchanged (the whole test suite passes); measured while developing on the `small` "
        "profile on a shared, busy machine, so the effects are approximate:",
        "",
        "1. `dags/nns_collect.py`, `dags/nns_registers.py`: `@task(multiple_outputs=False)` on the mapped "
        "`ingest` tasks. A task returning a `dict` is split by Airflow into one XCom per key as well as the "
        "whole value: ten XCom pushes (API round trips) per file instead of one. Time per mapped task "
        "0.22 → 0.11 s; on national's ≈ 500 files about a minute less. Downstream `announce` reads the "
        "whole value as before.",
        "2. `Makefile`: `uv sync --compile-bytecode`. Importing Airflow 5.3 → 1.7 s, the dbt CLI about "
        "3 s faster, for every process (each dbt run, each `nns` command, each test subprocess); the "
        "first `make install` takes about 15 s longer, later ones under a second.",
        "3. `report/pdf.py`, `report/charts.py`: Typst instead of WeasyPrint and SVG by hand instead of "
        "matplotlib: every document from a cold start in about 10 s instead of about 250 s (docs/reports.md).",
        "4. `report/build.py`: the national report (the largest job) and batches of four federation reports "
        "are jobs for the two worker processes, national first; before, the national and popular reports were "
        "rendered alone in the parent and the workers started after them, so one core idled meanwhile. "
        "The HTML written is byte-identical (checked on the small profile).",
        "5. `OPENBLAS_NUM_THREADS=1` unless set (see the quality gate above), by the `nns` entry point "
        "(`operations/entry.py`) and in the compose workers' environment; the masks computed for national's "
        "six protected tables are identical with one thread and with two.",
        "6. `int_register__monthly_main_support` on the follow-up months only (national 12 s → 2 s for this "
        "model); the ledger read with `json_transform` (about 2 s → 0.1 s per read); the record keys' HMAC in "
        "DuckDB instead of row by row in Python; sustainability in the indicator-11 follow-ups by a group and a "
        "join instead of a window. Every mart identical before and after on national (`bench/same_marts.py`).",
        "7. `ingest/contract.py` and the xlsx reader: validation CPU 1.10 s → 0.39 s on the national "
        "workbooks; every outcome and message identical on the national files and the bad corpus.",
        "8. Only what changed is built (`operations/changes.py`, `dbt_project/selectors.yml`); Great "
        "Expectations' Data Docs only when the gate blocks, on the closing night or on request; "
        "`publication` and Great Expectations are imported only by the tasks that use them.",
        "9. A night with nothing new builds nothing: `nns_build`'s first task (`plan`) skips every later task "
        "when nothing changed since the last publication, and `new_files`/`new_extracts` skip ingest and "
        "announce at once when nothing waits (before, `dag.test()` waited a one-second scheduling loop per "
        "skipped task).",
        "10. The attacker's audit takes the last gate's answer for each connected set whose linear program is "
        "unchanged (`publication.attack.component_key`); the gate's task log says how many unknowns were "
        "answered that way and how many LPs were solved.",
        "",
        "Not changed, and why: the per-task API overhead of `dag.test()` (Airflow's, see above; one task per "
        "file stays, docs/design.md); dbt as one Airflow task rather than one per model (Cosmos measured and "
        "not adopted, docs/design.md); the audit's model of the whole publication on every night (what is "
        "published is always audited as one system; only unchanged sets' answers are reused).",
    ]
    return "\n".join(out) + "\n"
