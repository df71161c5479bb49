"""The benchmark's own measuring code (the figures themselves are `make bench`'s)."""

from __future__ import annotations

import subprocess
import sys

from bench import excel
from bench.measure import run_measured
from synthetic import generate


def test_excel_comparison_reads_the_same_rows_both_ways(settings):
    generate("small", settings.inbox, settings, registers=False)
    files = sorted(settings.inbox.glob("*.xlsx"))[:4]
    result = excel.compare(files, settings)
    assert result["files"] == 4
    assert result["calamine"]["rows"] == result["pandas_openpyxl"]["rows"] > 0
    assert result["ratio"] > 0


def test_memory_of_the_whole_process_tree_is_sampled():
    # A child that starts a grandchild holding about 200 MB: the tree's peak must include it.
    grandchild = "x = bytearray(200 * 1024 * 1024); import time; time.sleep(1.5)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    measured = run_measured([sys.executable, "-c", child], env={})
    assert measured["returncode"] == 0
    assert measured["peak_tree_rss_gib"] > 0.19
    assert measured["memory_samples"] > 5


def test_bench_rejects_an_unknown_profile():
    result = subprocess.run([sys.executable, "-m", "bench.run"], env={"BENCH_PROFILES": "huge", "PATH": ""},
                            capture_output=True, text=True)
    assert result.returncode == 2 and "BENCH_PROFILES" in result.stderr


def test_the_read_api_is_measured_against_a_real_server(published_home):
    from bench import api

    measured = api.measure(published_home.home, repeats=3, clients=3, seconds=2)
    assert measured["data_median_ms"] > 0 and measured["metadata_median_ms"] > 0
    assert measured["requests"] > 3 and measured["errors"] == 0
    assert measured["load_peak_rss_gib"] > 0.02 and measured["load_memory_samples"] > 5


def test_both_disclosure_methods_are_measured_on_the_same_warehouse(published_home):
    from bench import methods

    measured = methods.measure(published_home)
    assert set(measured) == {"ckm", "suppression"}
    for method, result in measured.items():
        assert result["findings"] == 0 and result["unknowns"] > 0, method
        results = next(r for r in result["usefulness"] if r["table"] == "indicator_results")
        assert 0 < results["shown"] <= results["cells"], method
    # The noise leaves more of the survey results in view than hiding does, on the same warehouse.
    shown = {m: next(r for r in measured[m]["usefulness"] if r["table"] == "indicator_results")["shown"]
             for m in measured}
    assert shown["ckm"] >= shown["suppression"]
    assert any("indicator_results" in line for line in methods.markdown(measured))
    assert {what for what, *_ in methods.verdicts(measured)} >= {"the attacker's audit"}


def test_the_reports_are_measured_and_a_night_rewrites_only_what_changed(published_home):
    from bench import reports

    measured = reports.measure(published_home.home)
    assert measured["documents"] == measured["pdfs"] > 2 and measured["cold_all_s"] > 0
    assert measured["unchanged_night_written"] == 0
    written = measured["one_federation_changed_written"]
    assert f"forbund/{measured['changed_federation']}-" in " ".join(written)
    assert not [n for n in written if n.startswith("forbund/") and measured["changed_federation"] not in n]
    assert any("reports" in line or "documents" in line for line in reports.markdown(measured))
