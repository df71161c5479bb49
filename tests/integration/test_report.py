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
        # Every federation taking part in the indicator work that period, with data or not.
        federations = {r[0] for r in con.execute(
            "select federation_code from federations where valid_from <= $p and (valid_to is null or valid_to >= $p)"
            " and federation_code <> 'RIKET'", {"p": period}).fetchall()}
    slug = period.replace("/", "-")
    for name, size in ((f"nationell-rapport-{slug}", 100_000), (f"kortversion-{slug}", 5_000)):
        assert (out / f"{name}.html").stat().st_size > size
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
    assert "arbetstitel" in html and "Sammanfattning" in html and "Metod" in html
    summary = re.search(r'<section id="sammanfattning".*?</section>', html, re.S).group(0)
    assert 5 <= summary.count("<p>") <= 8
    assert "Förbund som har lämnat enkäter" in html and "Förbund som inte har lämnat enkäter" in html
    # Each explanation once: the suppression note and the answer scale are explained in Metod only.
    assert html.count("betyder att uppgiften inte visas") == 1
    assert html.count("1 Aldrig, 2 Sällan") == 1
    text = re.sub(r"<[^>]+>|data:[^\"]+", "", re.sub(r"<style>.*?</style>", "", html, flags=re.S))
    assert not re.search(r"\d\.\d", text), "a decimal point in the text"


def test_suppressed_cells_show_as_dots_with_a_note(reports):
    _, out, _ = reports
    largest = max((out / "forbund").glob("*.html"), key=lambda p: p.stat().st_size)
    federation = largest.read_text(encoding="utf-8")
    assert ">..<" in federation
    assert "betyder att uppgiften inte visas" in federation


def test_percent_formatting_is_swedish():
    assert pct(0.7234) == "72\u00a0%"
    assert pct(0.7234, 1) == "72,3\u00a0%"
    assert pct(None) == ".."


# --- accessibility (tagged PDF/UA) and page flow ---


def _structure(element, found: list) -> None:
    """Collect (type, alt) of every structure element below `element`."""
    import pikepdf

    if isinstance(element, pikepdf.Dictionary):
        if "/S" in element:
            found.append((str(element["/S"]), str(element["/Alt"]) if "/Alt" in element else None))
        kids = element.get("/K")
        for kid in (kids if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else []):
            _structure(kid, found)


@pytest.mark.parametrize("pattern", ["nationell-rapport-*.pdf", "kortversion-*.pdf", "forbund/SF07-*.pdf"])
def test_pdfs_are_tagged_with_language_title_and_figure_alternatives(reports, pattern):
    import pikepdf

    _, out, _ = reports
    path = next(out.glob(pattern))
    html = path.with_suffix(".html").read_text(encoding="utf-8")
    with pikepdf.open(path) as pdf:
        root = pdf.Root
        assert str(root.Lang) == "sv"
        assert bool(root.MarkInfo.Marked)
        assert bool(root.ViewerPreferences.DisplayDocTitle)
        title = re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()
        assert str(pdf.docinfo["/Title"]) == title.replace("&ndash;", "–")
        found: list = []
        _structure(root.StructTreeRoot, found)
    kinds = [kind for kind, _ in found]
    assert kinds[0] == "/Document" and "/H1" in kinds and "/P" in kinds
    figures = [alt for kind, alt in found if kind == "/Figure"]
    assert len(figures) == html.count("<img ")
    assert all(alt and len(alt) > 20 for alt in figures), "a figure without a text alternative"
    if "<table" in html:
        assert "/Table" in kinds and "/TH" in kinds


def _layout(path):
    from weasyprint import HTML

    return HTML(filename=str(path)).render()


def _boxes(box):
    yield box
    for child in getattr(box, "children", []) or []:
        yield from _boxes(child)


def _overflows(document) -> list[str]:
    problems = []
    for number, page in enumerate(document.pages, start=1):
        root = page._page_box
        for box in _boxes(root):
            if box is root or not hasattr(box, "text") and not type(box).__name__.endswith(("ImageBox", "LineBox")):
                continue
            right = box.position_x + box.margin_width()
            bottom = box.position_y + box.margin_height()
            if right > page.width + 0.5 or bottom > page.height + 0.5 or box.position_x < -0.5:
                problems.append(f"page {number}: {type(box).__name__} {getattr(box, 'text', '')[:40]!r} "
                                f"ends at ({right:.0f}, {bottom:.0f}) of ({page.width:.0f}, {page.height:.0f})")
    return problems


def _filled(page) -> float:
    """How far down the page content reaches, as a share of the space between the margins."""
    root = page._page_box
    body = [b for b in _boxes(root) if type(b).__name__ in ("LineBox", "InlineReplacedBox", "BlockReplacedBox")
            and b.position_y < root.height - root.margin_bottom]
    top = root.margin_top
    usable = root.height - root.margin_top - root.margin_bottom
    return max((b.position_y + b.margin_height() - top) / usable for b in body) if body else 0.0


@pytest.mark.parametrize("pattern, pages", [("nationell-rapport-*.html", (15, 45)), ("kortversion-*.html", (2, 2)),
                                            ("forbund/SF07-*.html", (4, 12))])
def test_reports_fit_their_pages(reports, pattern, pages):
    """The visual regression check: page counts in range and no text or image outside its page."""
    _, out, _ = reports
    document = _layout(next(out.glob(pattern)))
    assert pages[0] <= len(document.pages) <= pages[1], f"{pattern}: {len(document.pages)} pages"
    assert not _overflows(document)


def test_no_page_is_mostly_empty_except_before_a_new_chapter(reports):
    _, out, _ = reports
    document = _layout(next(out.glob("nationell-rapport-*.html")))
    thin = []
    for number, page in enumerate(document.pages[:-1], start=1):
        following = document.pages[number]
        starts_chapter = any(type(b).__name__ == "BlockBox" and getattr(b, "element_tag", "") == "h2"
                             for b in list(_boxes(following._page_box))[:40])
        if number > 1 and not starts_chapter and _filled(page) < 1 / 3:
            thin.append(number)
    assert not thin, f"pages less than a third full: {thin}"


def test_a_federation_without_data_gets_a_report_saying_so(reports):
    settings, out, _ = reports
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        period = con.execute("select max(period) from indicator_results").fetchone()[0]
        absent = con.execute("""
            select federation_code from federations
            where valid_from <= $p and (valid_to is null or valid_to >= $p) and federation_code not in
                  (select federation_code from collection_status where period = $p)
            order by 1 limit 1""", {"p": period}).fetchone()[0]
    html = next((out / "forbund").glob(f"{absent}-*.html")).read_text(encoding="utf-8")
    assert "har inga enkätresultat" in html


class _Recording:
    """The one reader, noting every table a query reads (its `from` and `join`)."""

    def __init__(self, db):
        self.db, self.tables = db, set()

    def _note(self, sql):
        ctes = set(re.findall(r"\b(\w+)\s+as\s*\(", sql, flags=re.IGNORECASE))
        self.tables |= {t.lower() for t in re.findall(r"\b(?:from|join)\s+(\w+)", sql, flags=re.IGNORECASE)} - ctes

    def query(self, sql, *args):
        self._note(sql)
        return self.db.query(sql, *args)

    def df(self, sql, *args):
        self._note(sql)
        return self.db.df(sql, *args)

    def __getattr__(self, name):  # the build's facts (the threshold) are read from `publication`
        self.tables.add("publication")
        return getattr(self.db, name)


def test_a_reports_key_covers_every_table_it_reads(small_build):
    """report_keys hashes the tables named in report.build; a report reading any other table could
    be left stale by an incremental night. Each report's context is built on a recording connection."""
    from publication.reader import PublishedDatabase
    from report.build import (
        CATALOGUE_TABLES,
        FEDERATION_TABLES,
        NATIONAL_ROWS,
        _common,
        federation_context,
        national_context,
        popular_context,
    )
    from report.data import ReportData

    keyed = {"publication", *CATALOGUE_TABLES}  # the threshold and the periods are part of every key
    reader = PublishedDatabase(small_build / "publish" / "marts.duckdb")
    try:
        national = _Recording(reader)
        db = ReportData(national)
        popular_context(national_context(db, db.latest_period()))
        assert national.tables and national.tables <= keyed | set(NATIONAL_ROWS)

        federation = _Recording(reader)
        db = ReportData(federation)
        code, name = reader.query("select federation_code, federation_name from federations limit 1")[0]
        federation_context(db, db.latest_period(), code, name, _common(db))
        assert federation.tables and federation.tables <= keyed | set(FEDERATION_TABLES)
    finally:
        reader.close()
