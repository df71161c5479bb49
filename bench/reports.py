"""The reports' time (issue #27): every document of a publication, HTML and PDF, from a cold
start, and a night with one federation's result changed, which must rewrite only the documents
whose printed figures changed. Run by `make bench` on each run's published database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from core.settings import REPO_ROOT

TARGET_S = 15  # all national documents, HTML and PDF, from a cold start on 2 cores


def _report(home: Path, *args: str) -> float:
    """`nns report` in a fresh process (a cold start: imports, fonts, everything); its wall time."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "operations.entry", "report", *args], cwd=REPO_ROOT, check=True,
                   env={**os.environ, "NNS_HOME": str(home)}, capture_output=True)
    return round(time.monotonic() - started, 2)


def _manifest(home: Path) -> dict:
    return json.loads((home / "publish" / "report" / "manifest.json").read_text(encoding="utf-8"))


def measure(home: Path) -> dict:
    """On a copy of `home`'s publication (the run's own reports are left as they are)."""
    work = home.parent / f"{home.name}-reports"
    shutil.rmtree(work, ignore_errors=True)
    (work / "publish").mkdir(parents=True)
    shutil.copy2(home / "publish" / "marts.duckdb", work / "publish" / "marts.duckdb")
    cold = _report(work, "--all")
    manifest = _manifest(work)
    documents = len(manifest["reports"])
    pdfs = sorted((work / "publish" / "report").rglob("*.pdf"))
    html_only = _report(work, "--all", "--html-only")
    unchanged = _report(work)
    unchanged_written = len(_manifest(work)["last_run"]["written"])
    with duckdb.connect(str(work / "publish" / "marts.duckdb")) as con:  # one federation's result moves
        code = con.execute("""
            select federation_code from indicator_results where federation_code <> 'RIKET' and status = 'ok'
              and gender = 'T' and period = (select max(period) from indicator_results)
            order by n desc, federation_code limit 1""").fetchone()[0]
        con.execute("""update indicator_results set positive_share = positive_share * 0.9
                       where federation_code = ? and gender = 'T'
                         and period = (select max(period) from indicator_results)""", [code])
    one_changed = _report(work)
    written = _manifest(work)["last_run"]["written"]
    shutil.rmtree(work, ignore_errors=True)
    return {"documents": documents, "pdfs": len(pdfs), "cold_all_s": cold, "cold_html_only_s": html_only,
            "per_document_s": round(cold / max(documents, 1), 3), "unchanged_night_s": unchanged,
            "unchanged_night_written": unchanged_written, "one_federation_changed_s": one_changed,
            "one_federation_changed_written": written, "changed_federation": code, "target_s": TARGET_S}


def markdown(r: dict) -> list[str]:
    return [
        "| | measured |", "|---|---|",
        f"| all {r['documents']} documents, HTML and PDF, cold start (`nns report --all`) | **{r['cold_all_s']} s** "
        f"(target ≤ {r['target_s']} s; {r['per_document_s']} s a document) |",
        f"| the same, HTML only | {r['cold_html_only_s']} s |",
        f"| a night with nothing printed changed | {r['unchanged_night_s']} s, {r['unchanged_night_written']} "
        "documents rewritten |",
        f"| a night with one federation's result changed ({r['changed_federation']}) | {r['one_federation_changed_s']}"
        f" s, rewrote {', '.join(r['one_federation_changed_written']) or 'nothing'} |",
    ]


if __name__ == "__main__":  # python -m bench.reports NNS_HOME: measure one data home's publication
    print("\n".join(markdown(measure(Path(sys.argv[1]).resolve()))))
