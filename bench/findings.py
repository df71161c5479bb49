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
    out += [
        "### End to end",
        "",
        f"On `{name}` the largest stages are the mapped ingest tasks ({p['ingest_tasks']} tasks, {_s(collect)} "
        f"summed, {p['ingest_per_task_s']:.2f} s each), the reports ({_s(reports)}) and the dbt build "
        f"({_s(dbt)}).",
        "",
        "- **Per mapped task in `nns_collect`.** Under `dag.test()` every task instance goes through Airflow's "
        "in-process Execution API: a FastAPI app (Cadwyn-versioned routes) behind a WSGI bridge, on the SQLite "
        "metadata DB. One ingest task makes about seven API round trips (start, rendered map index, XCom, "
        "state, ...) of 10–20 ms each, mostly request handling in Python; SQLite commits (about 1 ms each) and "
        "logging are small in the profile. Our own work per file (read, validate, write Parquet, fsync the "
        "ledger) is 15–50 ms. The first task of each process also builds the API app (about 1.3 s) and imports "
        "the task code. No Airflow setting removes the per-task API calls in `dag.test()`; the one-task-per-file "
        "design is an operations requirement and stays. (Changed: see below, one XCom per task instead of ten.)",
        "- **Reports.** WeasyPrint renders one PDF per federation plus the national and popular reports, two "
        "processes in parallel. Per document the time goes to laying out the inline SVG charts (WeasyPrint "
        "styles and draws every SVG node), drawing the charts with matplotlib (constrained layout), and "
        "embedding fonts. WeasyPrint subsets fonts with fontTools in Python because the HarfBuzz subsetter "
        "library is not installed here; with Debian's `libharfbuzz-subset0` it uses HarfBuzz instead "
        "(a system package, so not done by `make install`). (Changed: font subsets are now reused between "
        "documents, see below.)",
        "- **dbt build.** See section 3: process start-up, then the models, the data tests and the unit tests.",
        f"- **Publication** ({_s(_stage(p, 'nns_build.publish'))}). "
        "Disclosure control (`publication.disclosure`) checks "
        "every connected block of margin equations for recoverable cells with a dense SVD (numpy, OpenBLAS). "
        "On national, `indicator11_outcomes` has 14 blocks of about 1,400 equations × 1,700 cells and the joint "
        "results/trends system 151 blocks of up to 226 × 266; almost all of publication is these SVDs. With "
        "OpenBLAS's default of one thread per core, its threads spin against the other processes on a busy "
        "machine: one 1,406 × 1,678 SVD took 4.9 s with two threads and 2.3 s with one while other work ran. "
        "(Changed: one BLAS thread, see below.) A structural fix, if publication must get faster: solve the "
        "blocks by exact elimination over the integers (the equations are 0/±1 sums), or split the blocks.",
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
        "- **The plan.** `int_register__monthly_main_support` computes the main support of every person in "
        "every month of the income data and stores it as a table, because it is a reusable building block. "
        "Indicator 11 only needs the follow-up months (three per ended insats); the floor filters the income "
        "rows to those person-months first (a semi join) and so reads and aggregates far fewer rows. This is "
        "the part that grows with the income rows.",
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
            out += [f"`int_register__monthly_main_support` alone takes {_s(main)} of it, all the "
                    f"other models together {_s(fx['dbt_nodes_s'] - main)}. "
                    "The fix that would bring dbt towards the floor is a plan change in the models, not tuning: "
                    "a model of the follow-up points (participant × 6/12/24 months, with `is_observed`), "
                    "`int_register__monthly_main_support` restricted to those person-months by a semi join, "
                    "and the follow-ups joining the two. Measured once while developing the benchmark, on an x10 "
                    "warehouse on the busy machine: the restricted main support took 14.8 s for 3.4 million "
                    "person-months (identical to the matching rows of the full table) where the full table's 65 "
                    f"million took 228 s. With that, dbt's nodes here would be about "
                    f"{_s(fx['dbt_nodes_s'] - main + 14.8)} "
                    f"({(fx['dbt_nodes_s'] - main + 14.8) / fx['floor_s']:.1f}× "
                    "the floor), before counting the cheaper join in the follow-ups. "
                    "It changes three models and their unit tests, so it is left to the owner of the register models."]
    out += [""]

    # Increment
    out += ["### Nightly increment", ""]
    inc = p["increment_stages_s"]
    setup_s = (inc.get("process start, imports") or 0) + (inc.get("nns_collect.collection_window_open") or 0)
    out.append(
        f"One new file costs {_s(p['increment_s'])} end to end on `{name}`: the file itself is one mapped task "
        f"({_s(inc.get('nns_collect.ingest'))}), but the night also pays the process start and the first "
        f"task's set-up ({_s(setup_s)}), "
        f"a full `dbt build` ({_s(inc.get('nns_build.dbt_build'))}: every model is rebuilt and every test "
        f"rerun), publication ({_s(inc.get('nns_build.publish'))}) and every report again "
        f"({_s(inc.get('nns_build.reports'))}). 45 s is out of reach while each night rebuilds and re-renders "
        "everything. What would reach it, as design decisions for the DAG rather than tuning: build the "
        "reports only when the collection window has closed (or only the national report and the reports of "
        "the federations whose files arrived), and keep the register models out of a survey-only night "
        "(`dbt build --exclude` of the register branch when only `nns://lake/survey` changed), since the "
        "register part is what grows.")
    out += [""]

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
        "3. `report/pdf.py`: WeasyPrint's font subsetting is done once per font and process and reused while "
        "a document needs no other glyphs (glyph ids are retained, so a larger subset is valid). Font "
        "subsetting went from about a fifth of the report time to under a tenth; the pages render "
        "pixel-identical (checked with pdftoppm), a PDF is a few kB larger.",
        "4. `report/build.py`: the national report (the largest job) and batches of four federation reports "
        "are jobs for the two worker processes, national first; before, the national and popular reports were "
        "rendered alone in the parent and the workers started after them, so one core idled meanwhile. "
        "The HTML written is byte-identical (checked on the small profile).",
        "5. `OPENBLAS_NUM_THREADS=1` unless set (see publication above), by the `nns` entry point "
        "(`operations/entry.py`) and in the compose workers' environment; the masks computed for national's "
        "six protected tables are identical with one thread and with two.",
        "",
        "Not changed, and why: the per-task API overhead of `dag.test()` (Airflow's, see above); the "
        "dbt models (changing materialisations or narrowing `int_register__monthly_main_support` to the "
        "follow-up months changes models other work builds on; narrowing it is what would bring dbt to the "
        "floor's plan, and the first thing to do where the ratio misses); the reports' "
        "rebuild on every night (a DAG decision, `dags/nns_build.py`).",
    ]
    return "\n".join(out) + "\n"
