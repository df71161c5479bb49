"""The PDF is the report's HTML typeset by Typst as PDF/UA-1: text is never read as markup,
and Typst refuses a document that breaks the standard's rules."""

from __future__ import annotations

import io
import re
from html import escape

import pikepdf
import pytest

from report.charts import bars
from report.pdf import PdfRefused, pdf_bytes, string, to_typst

PAGE = """<!doctype html><html lang="sv"><head><title>{title}</title></head><body><main>
<h1>Rubrik</h1><section id="del" class="chapter"><h2>Del</h2>
<p>Text med <strong>fetstil</strong>, <em>kursiv</em> och <a href="#del">en länk</a>.</p>
<table><caption>En tabell</caption><thead><tr><th scope="col">Enkät</th><th scope="col">Totalt</th></tr></thead>
<tbody><tr><th scope="row">{name}</th><td>72 %</td></tr></tbody></table>
<figure class="chart"><figcaption>Diagram</figcaption><img src="{src}" alt="{alt}"></figure>
</section></main></body></html>"""
CHART = bars([("Deltagare", 0.72)], "Andel")


def page(name="Deltagare", alt=CHART.alt, title="Prov – rapport") -> str:
    return PAGE.format(name=escape(name), src=CHART.data_uri, alt=alt, title=title)  # as Jinja escapes it


def structure(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    found, todo = [], [pdf.Root.StructTreeRoot]
    while todo:
        element = todo.pop()
        if isinstance(element, pikepdf.Dictionary):
            if "/S" in element:
                found.append(element)
            kids = element.get("/K")
            todo += list(kids) if isinstance(kids, pikepdf.Array) else [kids] if kids is not None else []
    return found


def test_a_report_becomes_a_tagged_pdf_ua_file():
    pdf = pikepdf.open(io.BytesIO(pdf_bytes(page())))
    assert str(pdf.Root.Lang).startswith("sv") and str(pdf.docinfo["/Title"]) == "Prov – rapport"
    assert "pdfuaid:part" in str(pdf.open_metadata())
    kinds = [str(e["/S"]) for e in structure(pdf)]
    assert {"/H1", "/H2", "/P", "/Table", "/TH", "/TD", "/Figure", "/Link"} <= set(kinds)
    headers = [e for e in structure(pdf) if str(e["/S"]) == "/TH"]
    scopes = [a.get("/Scope") for e in headers
              for a in (e["/A"] if isinstance(e["/A"], pikepdf.Array) else [e["/A"]]) if "/Scope" in a]
    assert len(scopes) == len(headers)  # every header cell says what it heads
    figure = next(e for e in structure(pdf) if str(e["/S"]) == "/Figure")
    assert str(figure["/Alt"]) == CHART.alt


@pytest.mark.parametrize("name", ["#pagebreak()", "a *b* _c_ `d` $e$ <f> @g = h", 'back\\slash "quote"',
                                  "] ) } ; // not a comment"])
def test_text_from_a_file_is_never_read_as_markup(name):
    # Every text run is an embedded string literal, so Typst prints it as written.
    assert f"#{string(name)};" in to_typst(page(name=name))
    pages = len(pikepdf.open(io.BytesIO(pdf_bytes(page()))).pages)
    assert len(pikepdf.open(io.BytesIO(pdf_bytes(page(name=name)))).pages) == pages


def test_typst_refuses_a_figure_without_a_text_alternative():
    with pytest.raises(PdfRefused, match="alt"):
        pdf_bytes(page(alt=""))


def test_typst_refuses_a_skipped_heading_level():
    with pytest.raises(PdfRefused, match="heading"):
        pdf_bytes(page().replace("<h2>Del</h2>", "<h3>Del</h3>"))


def test_an_element_the_converter_does_not_know_is_refused_not_dropped():
    with pytest.raises(ValueError, match="SVG"):
        to_typst(page().replace(CHART.data_uri, "https://example.org/x.png"))


def test_a_header_is_aligned_as_its_column_even_under_a_cell_spanning_rows():
    table = ('<table><thead><tr><th scope="col" rowspan="2">Insats</th><th scope="col">Namn</th>'
             '<th scope="colgroup" colspan="2">Andel</th></tr><tr><th scope="col">Typ</th>'
             '<th scope="col">Kvinnor</th><th scope="col">Män</th></tr></thead><tbody><tr><th scope="row">A</th>'
             '<td class="text">Deltagare</td><td>50 %</td><td>60 %</td></tr></tbody></table>')
    typst = to_typst(page().replace('<figure class="chart">', table + '<figure class="chart">'))
    header = r'table\.cell\(align: (\w+)[^)]*\)\[#strong\[#"(\w+)";'
    aligned = {word: align for align, word in re.findall(header, typst)}
    # Words above a column of words start left; "Kvinnor" is the third column, not the first, of its row.
    assert {w: aligned[w] for w in ("Insats", "Namn", "Typ", "Kvinnor", "Män")} == {
        "Insats": "left", "Namn": "left", "Typ": "left", "Kvinnor": "right", "Män": "right"}
