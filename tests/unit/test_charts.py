"""Charts people can read: colours apart in luminance, text big enough, and a text
alternative and the data with every chart; Swedish number formats."""

from __future__ import annotations

import itertools
import re

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


def test_women_and_men_stay_apart_in_greyscale():
    # Kvinnor and Män are shown side by side in every gender chart and table.
    assert contrast(charts.COLOURS["K"], charts.COLOURS["M"]) >= 3.0


@pytest.mark.parametrize("a, b", list(itertools.combinations(charts.SERIES, 2)))
def test_the_series_of_one_chart_differ_in_luminance(a, b):
    assert contrast(a, b) >= 1.8, f"{a} and {b} look alike in greyscale"


def test_own_federation_and_nation_differ():
    assert contrast(charts.COLOURS["own"], charts.COLOURS["nation"]) >= 3.0


@pytest.mark.parametrize("colour", [*charts.SERIES, *charts.COLOURS.values()])
def test_every_colour_stands_out_against_the_white_page(colour):
    assert contrast(colour, "#ffffff") >= 3.0  # WCAG 1.4.11, non-text contrast


def test_each_series_has_its_own_marker_and_dash():
    assert len(set(charts.MARKERS)) == len(charts.SERIES) == len(set(charts.DASHES))


def _font_sizes(svg: str) -> list[float]:
    return [float(size) for size in re.findall(r"font: ?(?:[\w ]*?)([\d.]+)px", svg)] + \
        [float(size) for size in re.findall(r"font-size: ?([\d.]+)px", svg)]


def test_chart_text_is_at_least_nine_points_when_printed():
    chart = charts.trend({"Fråga D04 (från 2019/20)": [("2019/20", 0.8), ("2020/21", None), ("2021/22", 0.7)]},
                         ["2019/20", "2020/21", "2021/22"], "Deltagare: utveckling")
    sizes = _font_sizes(chart.svg)
    assert sizes, "no text sizes found in the SVG"
    # matplotlib writes sizes in px at 72 per inch: 1 px = 1 pt; the chart is printed at 100 % (width_pct)
    scale = (chart.width_pct / 100 * 6.85) / chart.width
    assert min(sizes) * scale >= charts.MIN_TEXT_PT - 0.01


def test_every_chart_has_an_alternative_and_its_data():
    chart = charts.ranked([("SF01", "Stockholms stad", 0.71), ("SF07", "Östergötland", None),
                           ("SF23", "Göteborg", 0.55)], 0.6, "Förbunden 2025/26")
    assert "2 förbund rangordnade från 71\u00a0% (SF01) till 55\u00a0% (SF23)" in chart.alt
    assert "1 förbund visas inte" in chart.alt
    assert chart.rows[0][:2] == ["1", "SF01"] and chart.rows[-1][-1] == ".."
    assert chart.data_uri.startswith("data:image/svg+xml;base64,")


def test_chart_text_is_escaped_for_mathtext():
    assert charts.chart_text("kostnad $5 och $6") == r"kostnad \$5 och \$6"
    chart = charts.bars([("a $b$ c\\d", 0.5)], "Titel med $")
    assert "a $b$ c\\d" in chart.svg  # shown as written, not typeset as mathematics


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
