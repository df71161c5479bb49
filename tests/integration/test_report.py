"""Reports from the small profile: built from the published database only, self-contained,
in Swedish, with the front matter of a public body, accessible PDF/UA-1 files that Typst
checked, within their page limits, and written again only when what they print changes."""

from __future__ import annotations

import html as html_lib
import re
import shutil

import duckdb
import pikepdf
import pytest

from report.build import build_reports, pct, read_manifest
from report.publishing import publishing
from report.rules import lix
from tests.conftest import environment
from tests.unit.test_report_pdf import structure


@pytest.fixture(scope="module")
def reports(small_build, tmp_path_factory):
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


def _period(settings) -> str:
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        return con.execute("select max(period) from indicator_results").fetchone()[0]


def _documents(out):
    return sorted(out.rglob("*.html"))


def test_every_report_is_written_as_html_and_pdf(reports):
    settings, out, progress = reports
    period = _period(settings)
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        federations = {r[0] for r in con.execute(
            "select federation_code from federations where valid_from <= $p and (valid_to is null or valid_to >= $p)"
            " and federation_code <> 'RIKET'", {"p": period}).fetchall()}
    slug = period.replace("/", "-")
    for name in (f"nationell-rapport-{slug}", f"kortversion-{slug}"):
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert {p.stem.split("-")[0] for p in (out / "forbund").glob("*.pdf")} == federations
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert progress[-1] == (2 + len(federations), 2 + len(federations))


def test_html_is_self_contained_with_landmarks_and_scoped_headers(reports):
    _, out, _ = reports
    for path in _documents(out):
        html = path.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', html), f"{path.name} loads something from the network"
        assert '<html lang="sv">' in html
        assert all(f"<{tag}" in html for tag in ("header", "main", "footer")), path.name
        assert not re.search(r"<th(?=[\s>])(?![^>]*scope=)", html), f"{path.name}: a header cell without scope"
        assert "<figcaption></figcaption>" not in html
    assert '<nav class="toc"' in next(out.glob("nationell-rapport-*.html")).read_text(encoding="utf-8")


def test_every_document_has_its_front_matter_and_a_source_under_every_table_and_chart(reports):
    settings, out, _ = reports
    front = publishing()
    for path in _documents(out):
        html = path.read_text(encoding="utf-8")
        for text in (front["publisher"]["name"], front["publisher"]["contact"], "Publicerad", "Version",
                     "Citera som", "Nästa publicering", front["edition"]["next_publication"]):
            assert html_lib.escape(text, quote=False) in html, f"{path.name}: {text}"
        main = re.search(r"<main>(.*)</main>", html, re.S).group(1)
        # Walk the tables, figures and source lines in order: each table or chart has its source
        # before the next one begins.
        pending = None
        for tag in re.findall(r'<table|<figure|<p class="source">', main):
            if tag == '<p class="source">':
                pending = None
            else:
                assert pending is None, f"{path.name}: a {pending[1:]} without 'Källa:'"
                pending = tag
        assert pending is None, f"{path.name}: the last {pending} without 'Källa:'"


def test_national_report_shows_the_marts_numbers(reports):
    settings, out, _ = reports
    html = next(out.glob("nationell-rapport-*.html")).read_text(encoding="utf-8")
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        rows = con.execute("""
            select indicator_id, respondent_group, positive_share, ci_low, ci_high from indicator_results
            where period = ? and federation_code = 'RIKET' and gender = 'T' and status = 'ok'""",
                           [_period(settings)]).fetchall()
    assert rows
    for indicator, group, share, low, high in rows:
        row = re.search(rf'<tr data-indicator="{indicator}" data-group="{group}"[^>]*>(.*?)</tr>', html, re.S).group(1)
        assert f'<td data-gender="T">{pct(share)}</td>' in row
        assert f"{pct(share)} <span class=\"note nowrap\">({pct(low)}–{pct(high)})</span>" in html
    text = re.sub(r"<[^>]+>|data:[^\"]+", "", re.sub(r"<style>.*?</style>", "", html, flags=re.S))
    text = re.sub(r"[Vv]ersion \d+\.\d+", "", text)  # a version number is not a decimal number
    assert not re.search(r"\d\.\d", text), "a decimal point in the text"
    assert html.count("slumpmässigt justerade") == 1 and "arbetstitel" in html


def test_every_pdf_is_pdf_ua_with_language_title_scoped_headers_and_figure_alternatives(reports):
    """Typst wrote every PDF under PDF/UA-1 (it refuses a file breaking the standard's rules);
    this reads what it wrote."""
    _, out, _ = reports
    for path in sorted(out.rglob("*.pdf")):
        html = path.with_suffix(".html").read_text(encoding="utf-8")
        with pikepdf.open(path) as pdf:
            assert "pdfuaid:part" in str(pdf.open_metadata()), path.name
            assert str(pdf.Root.Lang).startswith("sv") and bool(pdf.Root.MarkInfo.Marked)
            title = html_lib.unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip())
            assert str(pdf.docinfo["/Title"]) == title
            found = structure(pdf)
        kinds = [str(e["/S"]) for e in found]
        assert "/H1" in kinds and "/P" in kinds and "/Table" in kinds
        figures = [e for e in found if str(e["/S"]) == "/Figure"]
        assert len(figures) == html.count("<img ") and all(len(str(f["/Alt"])) > 20 for f in figures)
        for header in (e for e in found if str(e["/S"]) == "/TH"):
            attributes = header["/A"] if isinstance(header["/A"], pikepdf.Array) else [header["/A"]]
            assert any("/Scope" in a for a in attributes), f"{path.name}: a header cell without /Scope"


def _appendix_page(pdf) -> int:
    """The page the appendix begins on (1-based), from the PDF's outline."""
    with pdf.open_outline() as outline:
        for item in outline.root:
            if item.title.startswith("Bilaga"):
                page = item.destination[0] if item.destination is not None else item.action.D[0]
                return next(i for i, p in enumerate(pdf.pages, start=1) if p.objgen == page.objgen)
    raise AssertionError("no appendix in the outline")


def test_reports_keep_to_their_page_limits(reports):
    _, out, _ = reports
    with pikepdf.open(next(out.glob("nationell-rapport-*.pdf"))) as pdf:
        assert _appendix_page(pdf) - 1 <= 40, "the national report's main part is over 40 pages"
    for path in (out / "forbund").glob("*.pdf"):
        with pikepdf.open(path) as pdf:
            assert len(pdf.pages) <= 8, f"{path.name}: {len(pdf.pages)} pages"
    with pikepdf.open(next(out.glob("kortversion-*.pdf"))) as pdf:
        assert len(pdf.pages) <= 4


def test_the_popular_version_is_plain_swedish_with_a_chart(reports):
    _, out, _ = reports
    html = next(out.glob("kortversion-*.html")).read_text(encoding="utf-8")
    # Running text: the paragraphs and list items, not tables, the chart or the source lines.
    main = re.sub(r'<table.*?</table>|<figure.*?</figure>|<p class="source">.*?</p>', "",
                  re.search(r"<main>(.*)</main>", html, re.S).group(1), flags=re.S)
    text = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", t)) for _, t in
                    re.findall(r"<(p|li)[^>]*>(.*?)</\1>", main, re.S))
    assert lix(text) <= 40, f"LIX {lix(text):.0f}"
    for jargon in ("procentenhet", "indikator", "medremittent", "konfidensintervall", "respondent"):
        assert jargon not in text.lower(), jargon
    assert "Ett samordningsförbund är" in text  # the one word it cannot do without, explained
    assert "<img " in html


def test_a_federation_without_data_gets_a_report_saying_so(reports):
    settings, out, _ = reports
    period = _period(settings)
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        absent = con.execute("""
            select federation_code from federations
            where valid_from <= $p and (valid_to is null or valid_to >= $p) and federation_code not in
                  (select federation_code from collection_status where period = $p)
            order by 1 limit 1""", {"p": period}).fetchone()[0]
    html = next((out / "forbund").glob(f"{absent}-*.html")).read_text(encoding="utf-8")
    assert "har inga enkätresultat" in html


def test_a_night_rewrites_only_the_documents_whose_printed_figures_changed(reports, tmp_path):
    from core.settings import get_settings

    settings, out, _ = reports
    home = tmp_path / "home"
    shutil.copytree(settings.home, home)
    with environment(NNS_HOME=str(home)):
        again = get_settings()
        build_reports(again)
        assert read_manifest(again.reports)["last_run"]["written"] == []  # nothing printed changed
        dates = {n: e["date"] for n, e in read_manifest(again.reports)["reports"].items()}
        # One federation's published result moves (as a corrected file would move it).
        with duckdb.connect(str(again.publish / "marts.duckdb")) as con:
            code = con.execute("""
                select federation_code from indicator_results where period = (select max(period)
                from indicator_results) and federation_code <> 'RIKET' and status = 'ok' and gender = 'T'
                order by n desc limit 1""").fetchone()[0]
            con.execute("""update indicator_results set positive_share = positive_share * 0.5
                           where federation_code = ? and gender = 'T'
                             and period = (select max(period) from indicator_results)""", [code])
        build_reports(again)
        manifest = read_manifest(again.reports)
    written = manifest["last_run"]["written"]
    assert any(n.startswith(f"forbund/{code}-") for n in written)
    assert any(n.startswith("nationell-rapport-") for n in written)  # its rankings print the federation
    assert not [n for n in written if n.startswith("forbund/") and not n.startswith(f"forbund/{code}-")]
    kept = manifest["last_run"]["kept"]
    assert kept and all(manifest["reports"][n]["date"] == dates[n] for n in kept)
    federation = next(n for n in written if n.startswith(f"forbund/{code}-"))
    assert manifest["reports"][federation]["revision"] == 1  # its next version
