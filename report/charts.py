"""Charts as SVG written directly, each with a text alternative and the data behind it.

Every chart returns a `Chart`: the SVG, a one-paragraph text alternative (the `alt` of
the image in HTML and the /Alt of the figure in the tagged PDF) and the data as a table,
which the report prints next to the chart or in its appendix.

The SVG is written by hand rather than by matplotlib: a report draws up to 40 charts, and
matplotlib took about 0.1 s a chart (4 s of a federation report); these take about a
millisecond. The drawing is simple on purpose: axes, lines, bars, dots, labels.

Readable when printed in black and white and for readers with a colour-vision deficiency:
each meaning has one colour in every chart (Kvinnor, Män, riket, the own federation), every
mark that carries data is drawn at full opacity in a colour with at least 3:1 contrast against
the white page (WCAG 1.4.11; tests/unit/test_charts.py reads every mark of every chart), the
colours shown together differ in luminance, and every series has its own marker and dash.
Text is at least 9 pt at the printed size (a chart is drawn at the size it is printed);
legends sit outside the data.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

from core.escape import svg_text
from core.swedish import NO_VALUE, SUPPRESSED, num, pct

MIN_TEXT_PT = 9
FONT = "DejaVu Sans"
CHAR_WIDTH = 0.6  # DejaVu Sans' mean advance per character, in ems (for laying out labels)

# One colour per meaning. Luminance differs between the colours shown together
# (Kvinnor/Män; the series of one chart), so they stay apart in greyscale.
COLOURS = {
    "K": "#d55e00",  # Kvinnor: vermilion
    "M": "#08306b",  # Män: dark blue
    "nation": "#1a1a1a",  # riket: black, dashed
    "own": "#1f8a70",  # the own federation: green
    "federations": "#767676",  # other federations: grey
}
INK = "#1a1a1a"  # text, and the axes
GRID = "#e4e4e4"  # grid lines: a guide, not data (class "grid", left out of the contrast test)
# Series of one chart (question series, follow-up points), with their markers and dashes.
SERIES = ["#1a1a1a", "#1f8a70", "#7b3294"]
MARKERS = ["circle", "square", "triangle"]
DASHES = ["", "6 3", "1.5 2.5"]
# Page widths the charts are drawn for (inches): printed at 100 %, so font sizes hold.
TEXT_WIDTH = 6.85  # A4 between the report's 18 mm margins
FULL = 6.6
HALF = 3.3
THIRD = 2.2


@dataclass
class Chart:
    svg: str
    alt: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    width: float = FULL  # inches as drawn; the page shows it at this size
    title: str = ""  # shown as the figure's caption in the page, not inside the image

    @property
    def width_pct(self) -> int:
        """The chart's share of the text width."""
        return min(100, math.ceil(self.width / TEXT_WIDTH * 100))

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


def text_width(text: str, size: float = MIN_TEXT_PT) -> float:
    """An estimate of the width of `text` in points."""
    return len(text) * size * CHAR_WIDTH


class Canvas:
    """An SVG in points (1 user unit = 1 pt), drawn at `width` × `height` inches."""

    def __init__(self, width: float, height: float):
        self.width, self.height = width * 72, height * 72
        self.parts: list[str] = []
        self.defs: list[str] = []

    def line(self, x1, y1, x2, y2, colour=INK, width=1.0, dash="", cls="mark") -> None:
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                          f'stroke="{colour}" stroke-width="{width}"{dashes}/>')

    def polyline(self, points, colour, width=1.8, dash="") -> None:
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polyline class="mark" points="{coords}" fill="none" stroke="{colour}" '
                          f'stroke-width="{width}" stroke-linejoin="round"{dashes}/>')

    def rect(self, x, y, w, h, colour, hatch=False) -> None:
        self.parts.append(f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
                          f'height="{max(h, 0):.1f}" fill="{colour}"/>')
        if hatch and w > 0 and h > 0:  # white diagonal lines over the bar: Män apart from Kvinnor in greyscale
            lines = []
            step = 4.0
            k = -h
            while k < w:
                x1, y1 = x + max(k, 0), y + h - max(0, -k)
                x2, y2 = x + min(k + h, w), y + h - min(h, w - k)
                lines.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>')
                k += step
            self.parts.append(f'<g class="hatch" stroke="#ffffff" stroke-width="0.9">{"".join(lines)}</g>')

    def marker(self, x, y, shape, colour, size=3.4) -> None:
        if shape == "square":
            self.parts.append(f'<rect class="mark" x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" '
                              f'height="{2 * size:.1f}" fill="{colour}"/>')
        elif shape == "triangle":
            r = size * 1.25
            self.parts.append(f'<polygon class="mark" points="{x:.1f},{y - r:.1f} {x + r:.1f},{y + r * 0.75:.1f} '
                              f'{x - r:.1f},{y + r * 0.75:.1f}" fill="{colour}"/>')
        else:
            self.parts.append(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{colour}"/>')

    def text(self, x, y, value, size=MIN_TEXT_PT, anchor="start", bold=False, colour=INK, rotate=0) -> None:
        weight = ' font-weight="bold"' if bold else ""
        turn = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'fill="{colour}"{weight}{turn}>{svg_text(value)}</text>')

    def svg(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.1f}pt" height="{self.height:.1f}pt" '
                f'viewBox="0 0 {self.width:.1f} {self.height:.1f}" font-family="{FONT}">'
                f'<rect width="100%" height="100%" fill="#ffffff"/>' + "".join(self.parts) + "</svg>")


def _legend(canvas: Canvas, items: list[tuple[str, str, str, str]], top: float, left: float = 4) -> float:
    """Legend rows below the plot: (label, colour, marker or 'bar' or 'tick', dash). Returns the height used."""
    x, y, row = left, top + 10, 13
    for label, colour, shape, dash in items:
        width = 26 + text_width(label) + 12
        if x + width > canvas.width and x > left:
            x, y = left, y + row
        if shape == "bar":
            canvas.rect(x, y - 7, 14, 8, colour, hatch=(colour == COLOURS["M"]))
        elif shape == "tick":
            canvas.line(x + 9, y - 8, x + 9, y + 2, colour, 2.2)
        else:
            canvas.line(x, y - 3, x + 18, y - 3, colour, 1.8, dash)
            if shape:
                canvas.marker(x + 9, y - 3, shape, colour, 2.8)
        canvas.text(x + 22, y, label)
        x += width
    return y - top + 4


def _legend_height(items, width_pt: float) -> float:
    rows, x = 1, 4
    for label, *_ in items:
        w = 26 + text_width(label) + 12
        if x + w > width_pt and x > 4:
            rows, x = rows + 1, 4
        x += w
    return 14 + 13 * (rows - 1)


def _short(period: str) -> str:
    return period[2:] if len(period) == 7 and period[4] == "/" else period


def _y_axis_percent(canvas: Canvas, left, right, top, bottom, label: str | None) -> None:
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - tick * (bottom - top)
        canvas.line(left, y, right, y, GRID, 0.6, cls="grid")
        canvas.text(left - 4, y + 3, pct(tick), anchor="end")
    canvas.line(left, top, left, bottom, INK, 0.8, cls="axis")
    if label:
        canvas.text(10, (top + bottom) / 2, label, anchor="middle", rotate=-90)


def trend(series: dict[str, list[tuple[str, float | None]]], periods: list[str], title: str, *,
          width: float = HALF, height: float = 2.2, colours: dict[str, str] | None = None,
          what: str = "Andel positiva svar", y_label: bool = True, legend: bool = True) -> Chart:
    """One line per series (a gap where a value is not shown), each with its own marker and dash."""
    items = []
    for i, label in enumerate(series):
        colour = (colours or {}).get(label, SERIES[i % len(SERIES)])
        items.append((label, colour, MARKERS[i % len(MARKERS)], DASHES[i % len(DASHES)]))
    canvas = Canvas(width, height)
    legend = _legend_height(items, canvas.width) if legend and (len(series) > 1 or colours) else 0
    crowded = (canvas.width - 50) / max(len(periods), 1) < 34  # "19/20" needs about 30 pt
    left, right = 46 if y_label else 34, canvas.width - 8
    top, bottom = 8, canvas.height - legend - (30 if crowded else 22)
    _y_axis_percent(canvas, left, right, top, bottom, what.split()[0] if y_label else None)
    canvas.line(left, bottom, right, bottom, INK, 0.8, cls="axis")
    step = (right - left) / max(len(periods), 1)

    def x_of(period: str) -> float:
        return left + step * (periods.index(period) + 0.5)

    for period in periods:
        if crowded:
            canvas.text(x_of(period) + 3, bottom + 12, _short(period), anchor="end", rotate=-40)
        else:
            canvas.text(x_of(period), bottom + 13, _short(period), anchor="middle")
    for (_label, colour, shape, dash), points in zip(items, series.values(), strict=True):
        run: list[tuple[float, float]] = []
        for period, value in [*points, (None, None)]:
            if value is None or period not in periods:
                if len(run) > 1:
                    canvas.polyline(run, colour, 1.8, dash)
                run = []
                continue
            run.append((x_of(period), bottom - value * (bottom - top)))
        for period, value in points:
            if value is not None and period in periods:
                canvas.marker(x_of(period), bottom - value * (bottom - top), shape, colour)
    if legend:
        _legend(canvas, items, bottom + (30 if crowded else 22) - 6)
    rows = [[p] + [_value_at(points, p) for points in series.values()] for p in periods]
    described = []
    for label, points in series.items():
        known = [(p, v) for p, v in points if v is not None]
        if known:
            described.append(f"{label}: från {pct(known[0][1])} ({known[0][0]}) till {pct(known[-1][1])} "
                             f"({known[-1][0]})")
    alt = f"Linjediagram, {title[:1].lower() + title[1:]}. " + ("; ".join(described) or "Inga värden visas") + "."
    return Chart(canvas.svg(), alt, ["Period", *series.keys()], rows, width, title)


def _value_at(points: list[tuple[str, float | None]], period: str) -> str:
    values = dict(points)
    if period not in values:
        return "–"  # not asked that period (another question series, or before it began)
    return pct(values[period])


def _label_column(labels: list[str], limit: float) -> float:
    return min(limit, max((text_width(label) for label in labels), default=0) + 8)


def _rows_canvas(labels: list[str], height: float, label_limit: float, margin: float, below: float):
    """A full-width chart of one row per label, with a 0–100 % axis along the bottom: the canvas, the
    plot's left, right, top and bottom, and the height of a row."""
    canvas = Canvas(FULL, height)
    left = _label_column(labels, label_limit)
    # The last tick's label is centred on the plot's right edge: half of it must fit in the margin.
    margin = max(margin, text_width(pct(1.0)) / 2 + 2)
    right, top, bottom = canvas.width - margin, 4, canvas.height - below
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * (right - left)
        canvas.line(x, top, x, bottom, GRID, 0.6, cls="grid")
        canvas.text(x, bottom + 12, pct(tick), anchor="middle")
    return canvas, left, right, top, bottom, (bottom - top) / max(len(labels), 1)


def gender(rows: list[tuple[str, float | None, float | None]], title: str, *,
           what: str = "Andel positiva svar") -> Chart:
    """Women and men side by side per row: (label, share K, share M), values printed at the bars."""
    canvas, left, right, top, bottom, band = _rows_canvas([r[0] for r in rows], 0.55 + 0.36 * len(rows), 200, 40, 36)
    for i, (label, women, men) in enumerate(rows):
        y = top + i * band
        canvas.text(left - 6, y + band / 2 + 3, label, anchor="end")
        for offset, value, key in ((0.12, women, "K"), (0.5, men, "M")):
            bar_top, bar_height = y + offset * band, band * 0.36
            if value is None:
                canvas.text(left + 3, bar_top + bar_height - 1, SUPPRESSED)
                continue
            canvas.rect(left, bar_top, value * (right - left), bar_height, COLOURS[key], hatch=(key == "M"))
            canvas.text(left + value * (right - left) + 3, bar_top + bar_height - 1, pct(value))
    canvas.line(left, top, left, bottom, INK, 0.8, cls="axis")
    _legend(canvas, [("Kvinnor", COLOURS["K"], "bar", ""), ("Män", COLOURS["M"], "bar", "")], bottom + 14, left)
    table = [[label, pct(women), pct(men)] for label, women, men in rows]
    parts = [f"{label}: kvinnor {pct(women)}, män {pct(men)}" for label, women, men in rows]
    alt = f"Stapeldiagram, {title[:1].lower() + title[1:]}. " + "; ".join(parts) + "."
    return Chart(canvas.svg(), alt, ["", "Kvinnor", "Män"], table, FULL, title)


def comparison(rows: list[tuple[str, float | None, float | None, float | None, float | None]], title: str,
               who: str) -> Chart:
    """A federation against the nation per row: (label, own, low, high, nation), the interval as a line."""
    canvas, left, right, top, bottom, band = _rows_canvas([r[0] for r in rows], 0.75 + 0.17 * len(rows), 250, 10, 38)
    for i, (label, own, low, high, nation) in enumerate(rows):
        y = top + (i + 0.5) * band
        canvas.text(left - 6, y + 3, label, anchor="end")
        if nation is not None:
            canvas.line(left + nation * (right - left), y - 6, left + nation * (right - left), y + 6,
                        COLOURS["nation"], 2.2)
        if own is None:
            canvas.text(left + 3, y + 3, SUPPRESSED)
            continue
        if low is not None and high is not None:
            canvas.line(left + low * (right - left), y, left + high * (right - left), y, COLOURS["own"], 1.6)
        canvas.marker(left + own * (right - left), y, "circle", COLOURS["own"], 3.6)
    canvas.line(left, top, left, bottom, INK, 0.8, cls="axis")
    _legend(canvas, [(who, COLOURS["own"], "circle", ""), ("95 % konfidensintervall", COLOURS["own"], "", ""),
                     ("Riket", COLOURS["nation"], "tick", "")], bottom + 14, left)
    table = [[label, pct(own), f"{pct(low)}–{pct(high)}" if own is not None else SUPPRESSED, pct(nation)]
             for label, own, low, high, nation in rows]
    alt = (f"Punktdiagram, {title[:1].lower() + title[1:]}: {who}s andel positiva svar med konfidensintervall "
           f"mot rikets, {len(rows)} rader. Värdena finns i tabellen Era resultat i korthet.")
    return Chart(canvas.svg(), alt, ["", who, "Intervall", "Riket"], table, FULL, title)


def bars(rows: list[tuple[str, float | None]], title: str, what: str = "Andel positiva svar") -> Chart:
    """Horizontal bars with their values: (label, share); '..' where not shown."""
    canvas = Canvas(FULL, 0.45 + 0.3 * len(rows))
    left = _label_column([r[0] for r in rows], 300)
    right = canvas.width - 40
    top, bottom = 4, canvas.height - 18
    band = (bottom - top) / max(len(rows), 1)
    for i, (label, value) in enumerate(rows):
        y = top + i * band
        canvas.text(left - 6, y + band / 2 + 3, label, anchor="end")
        if value is None:
            canvas.text(left + 3, y + band / 2 + 3, SUPPRESSED)
            continue
        canvas.rect(left, y + band * 0.15, value * (right - left), band * 0.7, COLOURS["own"])
        canvas.text(left + value * (right - left) + 3, y + band / 2 + 3, pct(value))
    canvas.line(left, top, left, bottom, INK, 0.8, cls="axis")
    for tick in (0, 0.5, 1.0):
        canvas.text(left + tick * (right - left), bottom + 12, pct(tick), anchor="middle")
    alt = (f"Stapeldiagram, {title[:1].lower() + title[1:]}. "
           + "; ".join(f"{label}: {pct(v)}" for label, v in rows) + ".")
    return Chart(canvas.svg(), alt, ["", what], [[label, pct(v)] for label, v in rows], FULL, title)


def volumes(periods: list[str], totals: list[int | None], title: str) -> Chart:
    canvas = Canvas(FULL, 1.9)
    left, right, top, bottom = 8, canvas.width - 8, 16, canvas.height - 20
    step = (right - left) / max(len(periods), 1)
    largest = max([t for t in totals if t] or [1])
    for i, (period, total) in enumerate(zip(periods, totals, strict=True)):
        x = left + step * i + step * 0.2
        if total is None:
            canvas.text(x + step * 0.3, bottom - 3, NO_VALUE, anchor="middle")
        else:
            h = total / largest * (bottom - top)
            canvas.rect(x, bottom - h, step * 0.6, h, COLOURS["federations"])
            canvas.text(x + step * 0.3, bottom - h - 3, num(total), anchor="middle")
        canvas.text(x + step * 0.3, bottom + 13, period, anchor="middle")
    canvas.line(left, bottom, right, bottom, INK, 0.8, cls="axis")
    alt = f"Stapeldiagram, {title[:1].lower() + title[1:]}: " + "; ".join(
        f"{p}: {num(v)}" for p, v in zip(periods, totals, strict=True)) + "."
    return Chart(canvas.svg(), alt, ["Period", "Enkäter"],
                 [[p, num(v)] for p, v in zip(periods, totals, strict=True)], FULL, title)
