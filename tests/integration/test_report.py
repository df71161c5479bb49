"""Reports from the small profile: built from the published database only,
self-contained, in Swedish, and showing the marts' numbers."""

from __future__ import annotations

import re

import duckdb
import pytest

from report.build import FEDERATIONS_PER_JOB, build_reports, pct
from tests.conftest import environment


@pytest.fixture(scope="module")
def reports(small_build, tmp_path_factory):
    import shutil

    from core.settings import get_settings

    home = tmp_path_factory.mktemp("reports") / "home"
    shutil.copytree(small_build, home)
    with environment(NNS_HOME=str(home)):
        settings = get_settings()
        # Only the published database is needed: prove it by removing the warehouse.
        settings.warehouse.unlink()
        progress = []
        out = build_reports(settings, progress=lambda done, total: progress.append((done, total)))
    return settings, out, progress


def test_every_report_is_written_as_html_and_pdf(reports):
    settings, out, progress = reports
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        period = con.execute("select max(period) from indicator_results").fetchone()[0]
        federations = {r[0] for r in con.execute(
            "select distinct federation_code from collection_status where period = ? and federation_code <> 'RIKET'",
            [period]).fetchall()}
    slug = period.replace("/", "-")
    for name in (f"nationell-rapport-{slug}", f"kortversion-{slug}"):
        assert (out / f"{name}.html").stat().st_size > 10_000
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert {p.stem.split("-")[0] for p in (out / "forbund").glob("*.pdf")} == federations
    # Progress (the CLI's bar) counts every document once, in order, up to the total: once per
    # finished job (the national report with its popular version, then batches of federations).
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    jobs = 1 + -(-len(federations) // FEDERATIONS_PER_JOB)
    assert progress[-1] == (2 + len(federations), 2 + len(federations)) and len(progress) == jobs


def test_html_is_self_contained(reports):
    _, out, _ = reports
    for path in out.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', html), f"{path.name} loads something from the network"
        assert '<html lang="sv">' in html


def test_national_report_shows_the_marts_numbers(reports):
    settings, out, _ = reports
    html = next(out.glob("nationell-rapport-*.html")).read_text(encoding="utf-8")
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        period = con.execute("select max(period) from indicator_results").fetchone()[0]
        rows = con.execute("""
            select indicator_id, positive_share, ci_low, ci_high, status from indicator_results
            where period = ? and federation_code = 'RIKET' and gender = 'T'""", [period]).fetchall()
        collection = con.execute("select sum(questionnaires) from collection_summary where period = ?",
                                 [period]).fetchone()[0]
    assert rows
    for indicator_id, share, low, high, status in rows:
        assert f'id="indikator-{indicator_id}"' in html
        assert status == "ok"
        assert f"{pct(share)} <span class=\"note\">({pct(low)}–{pct(high)})</span>" in html
    assert f"{collection:,}".replace(",", "\u202f") in html or str(collection) in html
    assert "arbetstitel" in html and "Om statistiken" in html


def test_suppressed_cells_show_as_dots_with_a_note(reports):
    _, out, _ = reports
    federation = next((out / "forbund").glob("*.html")).read_text(encoding="utf-8")
    assert "<td class=\"k\">..</td>" in federation or ">..<" in federation
    assert "betyder att uppgiften inte visas" in federation


def test_percent_formatting_is_swedish():
    assert pct(0.7234) == "72\u00a0%"
    assert pct(0.7234, 1) == "72,3\u00a0%"
    assert pct(None) == ".."
