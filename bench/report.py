"""bench/results.md (and the README's headline block) from the results dict: a table per section with target,
measured, pass or miss, and for a miss by how much and where the time goes."""

from __future__ import annotations

import os
from pathlib import Path

from bench.methods import markdown as methods_markdown
from bench.methods import verdicts as methods_verdicts
from bench.reports import markdown as reports_markdown
from bench.secondary import markdown as secondary_markdown


def _s(seconds) -> str:
    if seconds is None:
        return "–"
    if seconds >= 90:
        return f"{seconds / 60:.1f} min ({seconds:.0f} s)"
    return f"{seconds:.1f} s"


def _verdict(measured, target, *, higher_is_better=False, unit=None) -> tuple[str, str]:
    if measured is None:
        return "not measured", ""
    ok = measured >= target if higher_is_better else measured <= target
    if ok:
        return "pass", ""
    if higher_is_better:
        return "**miss**", f"{target / measured:.1f}× short ({measured:.2f} against {target})"
    over = measured - target
    amount = _s(over) if unit == "s" else f"{over:.2f}{unit or ''}"
    return "**miss**", f"over by {amount} ({100 * over / target:.0f} %)"


def _top_stages(stages: dict, n: int = 4) -> str:
    ranked = sorted(((v, k) for k, v in stages.items() if v is not None), reverse=True)[:n]
    return ", ".join(f"{k} {_s(v)}" for v, k in ranked)


def _spread(r: dict, profile: str, part: str) -> str:
    """The runs' range behind a median, where there is more than one run: a median that passes while a run
    missed should say so."""
    walls = [run[part]["wall_s"] for run in r.get("runs", {}).get(profile, {}).get("runs", []) if part in run]
    return f", runs {min(walls):.1f}–{max(walls):.1f} s" if len(walls) > 1 else ""


def summary_rows(r: dict) -> list[tuple[str, str, str, tuple[str, str]]]:
    """The summary's rows (what, target, measured, (verdict, by how much)): results.md's first table, and
    the README's headline figures are a few of them."""
    t = r["targets"]
    profiles = r["profiles"]
    rows = []

    def row(what, target_text, measured_text, verdict):
        rows.append((what, target_text, measured_text, verdict))

    for name in ("national", "x10"):
        p = profiles.get(name)
        if not p:
            continue
        row(f"{name}: end to end", f"≤ {_s(t[name]['e2e_s'])}", f"{_s(p['e2e_s'])}{_spread(r, name, 'e2e')}",
            _verdict(p["e2e_s"], t[name]["e2e_s"], unit="s"))
        row(f"{name}: peak memory (process tree)", f"≤ {t[name]['peak_gib']} GiB", f"{p['e2e_peak_gib']:.2f} GiB",
            _verdict(p["e2e_peak_gib"], t[name]["peak_gib"], unit=" GiB"))
    x = r.get("excel")
    if x:
        row("Excel ingestion against pandas + openpyxl", f"≥ {t['excel_ratio']}×", f"{x['ratio']}×",
            _verdict(x["ratio"], t["excel_ratio"], higher_is_better=True))
    for name, p in profiles.items():
        f = p["floor"]
        target = t["dbt_floor_ratio"]
        verdict = _verdict(f["ratio_nodes"], target, unit="×") if name in ("national", "x10") else ("(small)", "")
        row(f"{name}: dbt nodes against the floor (start-up excluded)", f"≤ {target}×",
            f"{f['ratio_nodes']}× ({_s(f['dbt_nodes_s'])} against {_s(f['floor_s'])}); "
            f"start-up {_s(f['dbt_startup_s'])}",
            verdict)
    for name, p in profiles.items():
        target = t.get(name, {}).get("increment_s")
        verdict = _verdict(p["increment_s"], target, unit="s") if target else ("(no target)", "")
        row(f"{name}: nightly increment (one new survey file)", f"≤ {target} s" if target else "–",
            f"{_s(p['increment_s'])}{_spread(r, name, 'increment')} ({_top_stages(p['increment_stages_s'], 3)})",
            verdict)
    for name, p in profiles.items():
        target = t.get(name, {}).get("nothing_new_s")
        verdict = _verdict(p["nothing_new_s"], target, unit="s") if target else ("(no target)", "")
        row(f"{name}: a night with nothing new", f"≤ {target} s" if target else "–",
            f"{_s(p['nothing_new_s'])}{_spread(r, name, 'nothing_new')} "
            f"({_top_stages(p['nothing_new_stages_s'], 3)})", verdict)
    for name, p in profiles.items():
        worst = max(p["queries_ms"].values())
        row(f"{name}: analyst queries, median (slowest of five)", f"≤ {t['query_ms']} ms", f"{worst:.1f} ms",
            _verdict(worst, t["query_ms"], unit=" ms"))
    for name, p in profiles.items():
        a = p.get("api")
        if not a:
            continue
        target = t.get("api_data_ms", 50)
        verdict = _verdict(a["data_median_ms"], target, unit=" ms") if name == "national" else \
            ("(target on national)", "")
        row(f"{name}: read API, typical /data request, median", f"≤ {target} ms on national",
            f"{a['data_median_ms']:.1f} ms (metadata {a['metadata_median_ms']:.1f} ms)", verdict)
        row(f"{name}: read API under {a['clients']} clients for {a['seconds']} s", "no errors",
            f"{a['requests']:.0f} requests, {a['errors']:.0f} errors, server peak {a['load_peak_rss_gib']:.2f} GiB",
            ("pass", "") if not a["errors"] else ("**miss**", f"{a['errors']:.0f} errors"))

    for name, p in profiles.items():
        rep = p.get("reports")
        if rep and name == "national":
            row(f"{name}: all {rep['documents']} reports, HTML and PDF, cold start", f"≤ {rep['target_s']} s",
                f"{rep['cold_all_s']} s", _verdict(rep["cold_all_s"], rep["target_s"], unit="s"))
    for name, p in profiles.items():
        if p.get("methods") and name == "national":
            for what, target, measured, met in methods_verdicts(p["methods"]):
                row(f"{name}: {what} (Cell Key Method)", target, measured, ("pass", "") if met else ("**miss**", ""))
    return rows


def _table(rows) -> list[str]:
    return ["| what | target | measured | verdict | by how much |", "|---|---|---|---|---|",
            *(f"| {what} | {target} | {measured} | {verdict} | {by} |" for what, target, measured, (verdict, by)
              in rows)]


def write_markdown(r: dict) -> str:
    m = r["machine"]
    t = r["targets"]
    profiles = r["profiles"]
    note = (r["settings"].get("note") or os.environ.get("BENCH_NOTE", "")).strip()
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`); the raw figures, every run, are in "
        "[`results.json`](results.json). Every figure is the median of "
        f"{r['settings']['BENCH_RUNS']} run(s) per profile, each end to end in a fresh data home.",
        "",
        "## Conditions",
        "",
        f"- When: {r['started_at']}; the whole benchmark took {_s(r['bench_s'])}.",
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB; {m['os']}; "
        f"Python {m['python']}; commit {m['commit']}.",
        f"- Load average (1, 5, 15 min) at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end')}: anything well above 0 means other work shared the 2 cores.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".",
        f"- DuckDB memory limit {r['settings']['duckdb_memory_limit']} and {r['settings']['duckdb_threads']} "
        "threads (`NNS_DUCKDB_MEMORY_LIMIT`, `NNS_DUCKDB_THREADS`), for dbt, the floor and register ingest.",
        f"- Memory: {r['settings']['memory_measure']}.",
    ]
    if note:
        lines.append(f"- **Note:** {note}")
    lines += ["", "## Summary", "", *_table(summary_rows(r))]

    # 1. End to end
    lines += ["", "## 1. End to end through Airflow (`dag.test()`)", "",
              "One child process runs `nns_collect`, `nns_registers` and `nns_build` with `dag.test()` on an "
              "embedded SQLite metadata DB (migrated beforehand, not timed). Generating the data is not part of "
              "end to end and is shown apart. The per-task times come from the run's own metadata DB "
              "(`task_instance` start and end), so a task added to a DAG appears here by itself; mapped "
              "instances are summed. *dag.test outside tasks* is the rest of each `dag.test()` call "
              "(parsing the DAG folder, scheduling loop, state updates).", "",
              "| | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]

    def prow(label, get):
        lines.append(f"| {label} | " + " | ".join(get(p) for p in profiles.values()) + " |")

    prow("survey files / questionnaires", lambda p: f"{p['survey_files']} / {p['questionnaires']:,}")
    prow("income rows / SUS rows", lambda p: f"{p['income_rows']:,} / {p['sus_rows']:,}")
    prow("generate (not in e2e)", lambda p: _s(p["generate_s"]))
    prow("**end to end**", lambda p: f"**{_s(p['e2e_s'])}**")
    prow("**peak memory, process tree**", lambda p: f"**{p['e2e_peak_gib']:.2f} GiB**")
    prow("peak memory, largest single process", lambda p: f"{p['e2e_peak_process_gib']:.2f} GiB")
    for dag in ("nns_collect", "nns_registers", "nns_build"):
        prow(f"{dag} (dag.test wall)", lambda p, dag=dag: _s(p["e2e_dags_s"].get(dag)))
    stage_names = []
    for p in profiles.values():
        stage_names += [s for s in p["e2e_stages_s"] if s not in stage_names]
    for stage in stage_names:
        prow(f"&nbsp;&nbsp;{stage}", lambda p, stage=stage: _s(p["e2e_stages_s"].get(stage)))
    prow("ingest tasks × time per mapped task",
         lambda p: f"{p['ingest_tasks']} × {p['ingest_per_task_s']:.3f} s" if p["ingest_tasks"] else "–")
    for name in ("national", "x10"):
        p = profiles.get(name)
        if p and p["e2e_s"] > t[name]["e2e_s"]:
            lines += ["", f"{name} misses {_s(t[name]['e2e_s'])} by {_s(p['e2e_s'] - t[name]['e2e_s'])}. "
                      f"The largest stages: {_top_stages(p['e2e_stages_s'])}."]
        if p and p["e2e_peak_gib"] > t[name]["peak_gib"]:
            lines += ["", f"{name} peak memory misses {t[name]['peak_gib']} GiB by "
                      f"{p['e2e_peak_gib'] - t[name]['peak_gib']:.2f} GiB."]

    # 2. Excel
    x = r.get("excel")
    if x:
        lines += ["", "## 2. Excel ingestion", "",
                  f"The {x['files']} workbooks of the `{x['profile']}` profile ({x['rows']:,} questionnaire rows, "
                  f"{x['bytes'] / 1e6:.1f} MB), read and validated in one process. Ours: python-calamine, then "
                  "the contract (`ingest.contract.validate`). The alternative: `pandas.read_excel(sheet_name=None, "
                  "header=None, engine=\"openpyxl\")`, empty cells to None, then the same contract, so both do "
                  "identical validation; the parsed rows and problems of both are checked equal, file by file.", "",
                  "| | calamine + contract | pandas/openpyxl + contract |", "|---|---|---|",
                  f"| read | {_s(x['calamine_read_s'])} | {_s(x['openpyxl_read_s'])} |",
                  f"| validate | {_s(x['calamine_validate_s'])} | {_s(x['openpyxl_validate_s'])} |",
                  f"| **rows per second** | **{x['calamine_rows_per_s']:,.0f}** | {x['openpyxl_rows_per_s']:,.0f} |",
                  "",
                  f"Ratio {x['ratio']}× (target ≥ {t['excel_ratio']}×); reading alone {x['read_only_ratio']}× faster. "
                  "The contract's validation is now most of our time per file."]

    # 3. Floor
    lines += ["", "## 3. Transformations against the floor", "",
              "dbt: `dbt run --select +indicator_results +indicator_trends +indicator11_outcomes` on the data home "
              "of the end-to-end run (the models those marts need; seeds already loaded). *nodes* is the sum of "
              "the models' own execution times from `run_results.json`, which excludes dbt's start-up (imports, "
              "parsing, connecting); *start-up* is the process's wall time minus the run's `elapsed_time`. "
              "The floor: [`bench/floor.sql`](floor.sql), one hand-written DuckDB script over the same lake, "
              "ledger and catalogue CSVs, in a fresh DuckDB file with the same memory limit and threads, writing "
              "the three tables. The benchmark fails unless the floor's three tables equal dbt's marts row for row.",
              "", "| | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]
    prow("dbt wall (process)", lambda p: _s(p["floor"]["dbt_wall_s"]))
    prow("dbt start-up", lambda p: _s(p["floor"]["dbt_startup_s"]))
    prow("dbt nodes (start-up excluded)", lambda p: _s(p["floor"]["dbt_nodes_s"]))
    prow("floor", lambda p: _s(p["floor"]["floor_s"]))
    prow("**ratio, nodes / floor**", lambda p: f"**{p['floor']['ratio_nodes']}×**")
    prow("ratio, wall / floor", lambda p: f"{p['floor']['ratio_wall']}×")
    prow("rows checked equal", lambda p: ", ".join(f"{k} {v:,}" for k, v in p["floor"]["rows_checked_equal"].items()))
    prow("slowest dbt models", lambda p: "; ".join(f"{n['node'].split('.')[-1]} {n['s']:.1f} s"
                                                   for n in p["floor"]["slowest_nodes"][:3]))
    lines += ["", "The whole `dbt build` inside `nns_build` (seeds, every model, data tests, unit tests):", "",
              "| | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]
    prow("elapsed (dbt's own)", lambda p: _s(p["dbt_build"]["elapsed_s"]))
    kinds = []
    for p in profiles.values():
        kinds += [k for k in p["dbt_build"]["by_kind_s"] if k not in kinds]
    for kind in kinds:
        prow(f"&nbsp;&nbsp;{kind}s", lambda p, kind=kind: _s(p["dbt_build"]["by_kind_s"].get(kind)))
    prow("slowest nodes", lambda p: "; ".join(f"{n['node'].split('.')[-1]} {n['s']:.1f} s"
                                              for n in p["dbt_build"]["slowest"][:3]))

    # 4. Increment
    lines += ["", "## 4. Nightly increment", "",
              "After the end-to-end run, one new workbook (a federation's new file for the latest period, "
              "superseding its earlier one) arrives in the inbox; one child process then runs `nns_collect` and "
              "`nns_build` (dbt, gate, publish, reports) as the night would.", "",
              "| | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]
    def stage_rows(key: str) -> None:
        """One row per stage any profile has, in first-seen order."""
        names = []
        for p in profiles.values():
            names += [s for s in p[key] if s not in names]
        for stage in names:
            prow(f"&nbsp;&nbsp;{stage}", lambda p, stage=stage: _s(p[key].get(stage)))

    prow("**increment, end to end**", lambda p: f"**{_s(p['increment_s'])}**")
    prow("peak memory", lambda p: f"{p['increment_peak_gib']:.2f} GiB")
    stage_rows("increment_stages_s")

    lines += ["", "Then, later the same night, a night with nothing new: one child process runs `nns_collect` "
              "(no file to ingest) and `nns_build` as if triggered; its plan finds nothing changed since the last "
              "publication (docs/operations.md, \"A night with nothing new\"), so dbt, stage, the gate, publish and "
              "the reports are skipped. The benchmark fails if the published database is written.", "",
              "| | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]
    prow("**nothing new, end to end**", lambda p: f"**{_s(p['nothing_new_s'])}**")
    stage_rows("nothing_new_stages_s")

    # 5. Queries
    lines += ["", "## 5. Analyst queries", "",
              "Five typical queries from `docs/analysts.md` ([`bench/queries.sql`](queries.sql)) on "
              "`publish/marts.duckdb`, read-only, each run 30 times on one open connection; the median.", "",
              "| query | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]
    first = next(iter(profiles.values()))
    for q in first["queries_ms"]:
        prow(q, lambda p, q=q: f"{p['queries_ms'][q]:.1f} ms")
    prow("opening the connection", lambda p: f"{p['queries_connect_ms']:.1f} ms")

    # 5a. Reports
    for name, p in profiles.items():
        if p.get("reports"):
            lines += ["", f"## Reports on {name}", "",
                      "`nns report` in a fresh process on a copy of the run's publication "
                      "([`bench/reports.py`](reports.py)): every document from a cold start, HTML only, a night "
                      "with nothing changed, and a night with one federation's result changed (which rewrites "
                      "only the documents that print it).", "", *reports_markdown(p["reports"])]

    # 5b. Disclosure control
    for name, p in profiles.items():
        if p.get("methods"):
            lines += ["", f"## Disclosure control on {name}: both methods", "",
                      "The Cell Key Method (the default) and suppression on the same warehouse "
                      "([`bench/methods.py`](methods.py)): the time to protect every table, the attacker's audit of "
                      "the result, and what readers can see per table and headline (`publication.usefulness`).",
                      "", *methods_markdown(p["methods"])]

        if p.get("secondary"):
            lines += ["", f"Secondary cells on {name}, chosen smallest first and by minimum loss (what is "
                      "published), under the same rules, and the least secondary share any choice could have "
                      "([`bench/secondary.py`](secondary.py)).", "", *secondary_markdown(p["secondary"])]

    # 6. Scale
    lines += ["", "## 6. Scale", "",
              "Income rows are what grows (x10: ten times national's register volume; the surveys are the same).",
              "", "| profile | income rows | end to end | peak memory | nns_registers | dbt build (elapsed) | "
              "increment |", "|---|---|---|---|---|---|---|"]
    for name, p in profiles.items():
        lines.append(f"| {name} | {p['income_rows']:,} | {_s(p['e2e_s'])} | {p['e2e_peak_gib']:.2f} GiB | "
                     f"{_s(p['e2e_dags_s'].get('nns_registers'))} | {_s(p['dbt_build']['elapsed_s'])} | "
                     f"{_s(p['increment_s'])} |")
    if "national" in profiles and "x10" in profiles:
        n, x10 = profiles["national"], profiles["x10"]
        grow = x10["income_rows"] / n["income_rows"]
        lines += ["", f"From national to x10 the income rows grow {grow:.1f}×; end to end grows "
                  f"{x10['e2e_s'] / n['e2e_s']:.2f}×, peak memory {x10['e2e_peak_gib'] / n['e2e_peak_gib']:.2f}×, "
                  f"nns_registers {x10['e2e_dags_s']['nns_registers'] / n['e2e_dags_s']['nns_registers']:.1f}×, "
                  f"the dbt build {x10['dbt_build']['elapsed_s'] / n['dbt_build']['elapsed_s']:.1f}×."]
    from bench.findings import FINDINGS

    lines += ["", FINDINGS(r).strip(), ""]
    return "\n".join(lines) + "\n"


HEADLINE = ("national: end to end", "national: peak memory", "national: nightly increment",
            "national: a night with nothing new", "x10: end to end", "x10: peak memory", "x10: nightly increment",
            "x10: a night with nothing new",
            "national: dbt nodes", "x10: dbt nodes", "Excel ingestion")
README_START, README_END = "<!-- bench:headline -->", "<!-- /bench:headline -->"


def headline(r: dict) -> str:
    """The README's headline figures: the summary rows the issue's targets name, from the same run."""
    m = r["machine"]
    rows = [row for row in summary_rows(r) if row[0].startswith(HEADLINE)]
    return "\n".join([
        f"`make bench` of {r['started_at'][:16].replace('T', ' ')} UTC at {m['commit']}, the median of "
        f"{r['settings']['BENCH_RUNS']} run(s), load average {m['load_average_at_start'][0]} at the start "
        "(written by the benchmark; every figure and where the time goes: [bench/results.md](bench/results.md)):",
        "", *_table(rows)])


def with_headline(readme: str, r: dict) -> str:
    """The README with its headline block rewritten from the results."""
    before, start, rest = readme.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not (start and end):
        raise ValueError(f"the README has no {README_START} ... {README_END} block")
    return f"{before}{README_START}\n{headline(r)}\n{README_END}{after}"


def write_pages(results: dict, bench_dir: Path, readme: Path) -> None:
    """Write what results.json gives: bench/results.md and the README's headline block."""
    (bench_dir / "results.md").write_text(write_markdown(results), encoding="utf-8")
    readme.write_text(with_headline(readme.read_text(encoding="utf-8"), results), encoding="utf-8")


if __name__ == "__main__":  # rewrite results.md and the README's headline from results.json
    import json

    here = Path(__file__).resolve().parent
    write_pages(json.loads((here / "results.json").read_text(encoding="utf-8")), here, here.parent / "README.md")
