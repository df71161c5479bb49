"""Charts people can read: every mark that carries data at 3:1 against the page, colours apart
in luminance, text big enough, and a text alternative and the data with every chart; Swedish
number formats."""

from __future__ import annotations

import itertools
import re
import time
import xml.etree.ElementTree as ET

import pytest

from core.swedish import decimal, num, pct, pp, sort_key
from report import charts


def luminance(colour: str) -> float:
    """WCAG relative luminance of an sRGB colour."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    low, high = sorted((luminance(a), luminance(b)))
    return (high + 0.05) / (low + 0.05)


PERIODS = ["2019/20", "2020/21", "2021/22", "2022/23"]


def every_chart() -> list[charts.Chart]:
    """One chart of each kind, with values missing and at the edges (0 and 100 %)."""
    return [
        charts.trend({"Riket, D04": [("2019/20", 0.8), ("2020/21", None), ("2021/22", 0.7)],
                      "Riket, D04, D04B (från 2022/23)": [("2022/23", 1.0)]}, PERIODS, "Deltagare: utveckling"),
        charts.trend({"Gotland": [(p, 0.5) for p in PERIODS], "Riket": [(p, 0.6) for p in PERIODS]}, PERIODS,
                     "Indikator 4", width=charts.THIRD, height=1.45, y_label=False, legend=False,
                     colours={"Gotland": charts.COLOURS["own"], "Riket": charts.COLOURS["nation"]}),
        charts.gender([("Deltagare", 0.8, 0.7), ("Styrelse", None, 1.0)], "Kvinnor och män"),
        charts.comparison([("1. Deltagare", 0.8, 0.7, 0.9, 0.75), ("9. Styrelse", None, None, None, 0.8)],
                          "Andel positiva svar", "Gotland"),
        charts.bars([("9. styrelserna", 0.9), ("8. personalen", 0.0)], "Andel"),
        charts.volumes(PERIODS, [4381, 3990, None, 4629], "Antal enkäter"),
    ]


def marks(svg: str) -> list[str]:
    """The colour of every element drawn to carry data (class "mark"): grid lines and the white
    hatching over bars are guides, not data."""
    root = ET.fromstring(svg)
    found = []
    for element in root.iter():
        if element.get("class") == "mark":
            colour = element.get("stroke") if element.get("fill") in (None, "none") else element.get("fill")
            assert "opacity" not in element.attrib, "a mark drawn see-through has less contrast than its colour"
            found.append(colour)
    return found


@pytest.mark.parametrize("chart", every_chart(), ids=lambda c: c.title)
def test_every_mark_of_every_chart_has_3_to_1_contrast_against_the_page(chart):
    colours = marks(chart.svg)
    assert colours
    for colour in colours:
        assert contrast(colour, "#ffffff") >= 3.0, f"{colour} in {chart.title}"  # WCAG 1.4.11


def test_women_and_men_stay_apart_in_greyscale():
    assert contrast(charts.COLOURS["K"], charts.COLOURS["M"]) >= 3.0


@pytest.mark.parametrize("a, b", list(itertools.combinations(charts.SERIES, 2)))
def test_the_series_of_one_chart_differ_in_luminance(a, b):
    assert contrast(a, b) >= 1.8, f"{a} and {b} look alike in greyscale"


def test_own_federation_and_nation_differ():
    assert contrast(charts.COLOURS["own"], charts.COLOURS["nation"]) >= 3.0


def test_each_series_has_its_own_marker_and_dash():
    assert len(set(charts.MARKERS)) == len(charts.SERIES) == len(set(charts.DASHES))


@pytest.mark.parametrize("chart", every_chart(), ids=lambda c: c.title)
def test_chart_text_is_at_least_nine_points_when_printed(chart):
    # Drawn in points (viewBox = width in pt) and printed at the size drawn.
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', chart.svg)]
    assert sizes and min(sizes) >= charts.MIN_TEXT_PT
    width = float(re.search(r'width="([\d.]+)pt"', chart.svg).group(1))
    assert width == pytest.approx(chart.width * 72, abs=0.1)


@pytest.mark.parametrize("chart", every_chart(), ids=lambda c: c.title)
def test_every_chart_has_an_alternative_and_its_data(chart):
    assert len(chart.alt) > 20 and chart.headers and chart.rows
    assert chart.data_uri.startswith("data:image/svg+xml;base64,")
    ET.fromstring(chart.svg)  # well-formed


def test_a_trend_shows_a_gap_and_a_question_not_asked():
    chart = every_chart()[0]
    assert chart.rows[1] == ["2020/21", "..", "–"]  # not shown; that series did not exist yet
    assert "Riket, D04: från 80\u00a0% (2019/20) till 70\u00a0% (2021/22)" in chart.alt


def test_chart_text_is_escaped():
    chart = charts.bars([("a <b> & \"c\" $x$", 0.5)], "Titel")
    assert "a &lt;b&gt; &amp;" in chart.svg
    ET.fromstring(chart.svg)


def test_charts_are_drawn_in_about_a_millisecond():
    started = time.perf_counter()
    for _ in range(20):
        every_chart()
    assert (time.perf_counter() - started) / (20 * 6) < 0.01  # matplotlib took about 0.1 s a chart


def test_swedish_numbers():
    assert pct(0.7234) == "72\u00a0%"
    assert pct(0.7234, 1) == "72,3\u00a0%"
    assert decimal(8.5) == "8,5"
    assert decimal(12345.67, 1) == "12\u202f345,7"
    assert decimal(-0.25, 2) == "\u22120,25"
    assert num(12345) == "12\u202f345"
    assert pp(0.031) == "+3" and pp(-0.031) == "\u22123" and pp(0.001) == "±0"
    assert pct(None) == ".." and num(float("nan")) == ".."
    assert sorted(["Örebro", "Ånge", "Älvdalen", "Zinkgruvan"], key=sort_key) == \
        ["Zinkgruvan", "Ånge", "Älvdalen", "Örebro"]
