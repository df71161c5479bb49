"""Text from submitted files cannot break a renderer (core/escape.py)."""

from __future__ import annotations

import pytest

from core.escape import spreadsheet_cell, svg_text
from report import charts

HOSTILE = ["Kurs $\\x$", "$a$b$", "a $\\frac{1}{0}$", "^_{}\\", "<script>alert(1)</script>", "=1+1", "Steg\x00 1"]


@pytest.mark.parametrize("label", HOSTILE)
def test_a_hostile_insats_renders_in_every_chart_as_written(label):
    import xml.etree.ElementTree as ET

    svg = charts.bars([(label, 0.4), ("ok", None)], f"Titel {label}").svg
    assert "<script>" not in svg
    for chart in (charts.bars([(label, 0.4)], label), charts.gender([(label, 0.5, None)], label),
                  charts.comparison([(label, 0.5, 0.4, 0.6, 0.55)], label, label),
                  charts.trend({label: [("2024/25", 0.5)], "Riket": [("2024/25", 0.6)]}, ["2024/25"], label)):
        texts = "".join(t.text or "" for t in ET.fromstring(chart.svg).iter("{http://www.w3.org/2000/svg}text"))
        assert label.replace("\x00", "") in texts  # drawn as written (a control character dropped)


def test_markup_and_control_characters_in_a_chart_label_are_drawn_as_text():
    assert svg_text('Kurs <b>"5"</b> & $\\x$\x00') == "Kurs &lt;b&gt;&quot;5&quot;&lt;/b&gt; &amp; $\\x$"
    svg = charts.bars([("Kurs $5", 0.4)], "t").svg
    assert "Kurs $5" in svg  # the dollar is drawn as a dollar


def test_spreadsheet_escapes():
    for text in ("=HYPERLINK(\"x\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell("Steg 1") == "Steg 1" and spreadsheet_cell(-3) == -3
