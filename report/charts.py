"""Charts as SVG, each with a text alternative and the data behind it.

Every chart returns a `Chart`: the SVG, a one-paragraph text alternative (the
`alt` of the image in HTML and the /Alt of the figure in the tagged PDF) and the
data as a table, which the report prints next to the chart or in its appendix.

Readable when printed in black and white and for readers with a colour-vision
deficiency: each meaning has one colour in every chart (Kvinnor, Män, riket,
the own federation), the colours differ in luminance (tests/unit/test_charts.py
measures the contrasts) and every series has its own marker and dash as well.
Text is at least 9 pt at the printed size; legends sit outside the data.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from core.escape import chart_text  # noqa: E402
from core.swedish import SUPPRESSED, num, pct  # noqa: E402

MIN_TEXT_PT = 9
plt.rcParams.update({
    "svg.fonttype": "none",  # real text: small files, selectable, rendered in the page's font
    "svg.hashsalt": "nns",  # stable ids, so the same data gives the same file
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.labelsize": 9.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "figure.constrained_layout.use": True,
})

# One colour per meaning. Luminance differs between the colours shown together
# (Kvinnor/Män; the series of one chart), so they stay apart in greyscale.
COLOURS = {
    "K": "#d55e00",  # Kvinnor: vermilion
    "M": "#08306b",  # Män: dark blue
    "nation": "#1a1a1a",  # riket: black, dashed
    "own": "#1f8a70",  # the own federation: green
    "federations": "#767676",  # other federations: grey
}
# Series of one chart (question series, follow-up points), with their markers and dashes.
SERIES = ["#1a1a1a", "#1f8a70", "#7b3294"]
MARKERS = ["o", "s", "^"]
DASHES = ["-", "--", ":"]
# Page widths the charts are drawn for (inches): printed at about 100 %, so font sizes hold.
FULL = 6.6
HALF = 3.3


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
        """The chart's share of the text width (6.85 in on A4 with the report's margins)."""
        return min(100, math.ceil(self.width / 6.85 * 100))  # never smaller than drawn

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


def _percent(value, _pos=None) -> str:
    return pct(value)


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _legend(fig, ax, columns: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if fig.get_figwidth() <= HALF or sum(len(label) for label in labels) > 60:
        columns = 1  # long labels side by side would be cut at the figure's edge
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=max(1, min(columns, len(handles))),
                   frameon=False)


def _short(period: str) -> str:
    return period[2:] if len(period) == 7 and period[4] == "/" else period


def trend(series: dict[str, list[tuple[str, float | None]]], periods: list[str], title: str, *,
          width: float = HALF, height: float = 2.7, colours: dict[str, str] | None = None,
          what: str = "Andel positiva svar") -> Chart:
    """One line per series (a gap where a value is suppressed), each with its own marker and dash."""
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    for i, (label, points) in enumerate(series.items()):
        xs = [periods.index(p) for p, _ in points]
        ys = [v if v is not None else float("nan") for _, v in points]
        colour = (colours or {}).get(label, SERIES[i % len(SERIES)])
        ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], linestyle=DASHES[i % len(DASHES)], color=colour,
                label=chart_text(label), linewidth=1.8, markersize=5)
    # Period labels ("19/20") run into each other past about 0.55 in each: then they are turned.
    crowded = width / max(len(periods), 1) < 0.55
    ax.set_xticks(range(len(periods)), [_short(p) for p in periods], rotation=45 if crowded else 0,
                  ha="right" if crowded else "center")
    ax.set_xlim(-0.4, len(periods) - 0.6)
    ax.set_xlabel("Mätperiod" if periods and "/" in periods[0] else "År")
    ax.set_ylim(0, 1.04)  # a point at 100 % is not cut
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    # Under the legend and turned period labels a half-width chart's axis is about an inch tall:
    # "Andel positiva svar" in one line runs past it, so it is set in two.
    ax.set_ylabel(chart_text(what).replace(" ", "\n", 1) if height < 3.5 else chart_text(what))
    ax.yaxis.set_major_formatter(FuncFormatter(_percent))
    ax.grid(axis="y", color="#e4e4e4")
    _legend(fig, ax, 2)
    rows = [[p] + [pct(dict(points).get(p)) if p in dict(points) else "–" for points in series.values()]
            for p in periods]
    described = []
    for label, points in series.items():
        known = [(p, v) for p, v in points if v is not None]
        if known:
            described.append(f"{label}: från {pct(known[0][1])} ({known[0][0]}) till {pct(known[-1][1])} "
                             f"({known[-1][0]})")
    alt = f"Linjediagram, {title.lower()}. " + ("; ".join(described) or "Inga värden visas") + "."
    return Chart(_svg(fig), alt, ["Period", *series.keys()], rows, width, title)


def ranked(rows: list[tuple[str, str, float | None]], national: float | None, title: str, *,
           what: str = "Andel positiva svar", highlight: str | None = None) -> Chart:
    """Federations ranked by their value, each labelled with its code, and riket as a dashed line.

    rows: (code, name, value); a suppressed value is listed in the table as '..'."""
    shown = sorted([r for r in rows if r[2] is not None], key=lambda r: (-r[2], r[0]))
    hidden = sorted(r for r in rows if r[2] is None)
    width = HALF if len(shown) <= 14 else FULL
    fig, ax = plt.subplots(figsize=(width, 2.9), layout="constrained")
    colours = [COLOURS["own"] if code == highlight else COLOURS["federations"] for code, _, _ in shown]
    ax.bar(range(len(shown)), [r[2] for r in shown], color=colours, width=0.7, label="Förbund")
    if national is not None:
        ax.axhline(national, color=COLOURS["nation"], linewidth=1.8, linestyle="--", label=f"Riket {pct(national)}")
    ax.set_xticks(range(len(shown)), [chart_text(r[0]) for r in shown], rotation=90)
    ax.set_xlim(-0.6, max(len(shown), 1) - 0.4)
    ax.set_xlabel("Förbund (kod), från högst till lägst")
    ax.set_ylim(0, 1)
    ax.set_ylabel(chart_text(what))
    ax.yaxis.set_major_formatter(FuncFormatter(_percent))
    ax.grid(axis="y", color="#e4e4e4")
    _legend(fig, ax, 2)
    table = [[str(i), code, name, pct(value)] for i, (code, name, value) in enumerate(shown, start=1)]
    table += [["", code, name, SUPPRESSED] for code, name, _ in hidden]
    alt = (f"Stapeldiagram, {title.lower()}: {len(shown)} förbund rangordnade"
           + (f" från {pct(shown[0][2])} ({shown[0][0]}) till {pct(shown[-1][2])} ({shown[-1][0]})" if shown else "")
           + (f"; riket {pct(national)}" if national is not None else "")
           + (f"; {len(hidden)} förbund visas inte" if hidden else "") + ".")
    return Chart(_svg(fig), alt, ["Plats", "Kod", "Förbund", what], table, width, title)


def gender(rows: list[tuple[str, float | None, float | None]], title: str, *,
           what: str = "Andel positiva svar") -> Chart:
    """Women and men side by side per row: (label, share K, share M), values printed at the bars."""
    fig, ax = plt.subplots(figsize=(FULL, 0.9 + 0.5 * len(rows)), layout="constrained")
    for i, (_label, women, men) in enumerate(rows):
        for offset, value, key, name, hatch in ((-0.19, women, "K", "Kvinnor", None), (0.19, men, "M", "Män", "//")):
            if value is None:
                ax.text(0.01, i + offset, SUPPRESSED, va="center", color="#444")
            else:
                ax.barh(i + offset, value, height=0.36, color=COLOURS[key], hatch=hatch, edgecolor="white",
                        linewidth=0, label=name if i == 0 else None)
                ax.text(value + 0.01, i + offset, pct(value), va="center")
    ax.set_yticks(range(len(rows)), [chart_text(r[0]) for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel(chart_text(what))
    ax.xaxis.set_major_formatter(FuncFormatter(_percent))
    if not ax.get_legend_handles_labels()[0]:  # no bar drawn: still say which is which
        ax.barh([], [], color=COLOURS["K"], label="Kvinnor")
        ax.barh([], [], color=COLOURS["M"], hatch="//", label="Män")
    _legend(fig, ax, 2)
    table = [[label, pct(women), pct(men)] for label, women, men in rows]
    parts = [f"{label}: kvinnor {pct(women)}, män {pct(men)}" for label, women, men in rows]
    alt = f"Stapeldiagram, {title.lower()}. " + "; ".join(parts) + "."
    return Chart(_svg(fig), alt, ["", "Kvinnor", "Män"], table, FULL, title)


def comparison(rows: list[tuple[str, float | None, float | None, float | None, float | None]], title: str,
               who: str) -> Chart:
    """A federation against the nation per row: (label, own, low, high, nation), the interval as a bar."""
    fig, ax = plt.subplots(figsize=(FULL, 1.1 + 0.21 * len(rows)), layout="constrained")
    for i, (_label, own, low, high, nation) in enumerate(rows):
        if nation is not None:
            ax.plot(nation, i, "|", color=COLOURS["nation"], markersize=14, markeredgewidth=2.2,
                    label="Riket" if i == 0 else None)
        if own is not None:
            if low is not None and high is not None:
                ax.plot([low, high], [i, i], color=COLOURS["own"], linewidth=2.5, alpha=0.55,
                        label="95 % konfidensintervall" if i == 0 else None)
            ax.plot(own, i, "o", color=COLOURS["own"], markersize=6, label=chart_text(who) if i == 0 else None)
        else:
            ax.text(0.01, i, SUPPRESSED, va="center", color="#444")
    ax.set_yticks(range(len(rows)), [chart_text(r[0]) for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("Andel positiva svar")
    ax.xaxis.set_major_formatter(FuncFormatter(_percent))
    ax.grid(axis="x", color="#e4e4e4")
    _legend(fig, ax, 3)
    table = [[label, pct(own), f"{pct(low)}–{pct(high)}" if own is not None else SUPPRESSED, pct(nation)]
             for label, own, low, high, nation in rows]
    alt = (f"Punktdiagram, {title.lower()}: {who}s andel positiva svar med konfidensintervall mot rikets, "
           f"{len(rows)} rader. Värdena finns i tabellen Alla resultat.")
    return Chart(_svg(fig), alt, ["", who, "Intervall", "Riket"], table, FULL, title)


def bars(rows: list[tuple[str, float | None]], title: str, what: str = "Andel positiva svar") -> Chart:
    """Horizontal bars with their values: (label, share); '..' where suppressed."""
    fig, ax = plt.subplots(figsize=(FULL, 0.9 + 0.28 * len(rows)), layout="constrained")
    for i, (_label, value) in enumerate(rows):
        if value is None:
            ax.text(0.01, i, SUPPRESSED, va="center", color="#444")
        else:
            ax.barh(i, value, height=0.7, color=COLOURS["nation"])
            ax.text(value + 0.01, i, pct(value), va="center")
    ax.set_yticks(range(len(rows)), [chart_text(r[0]) for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel(chart_text(what))
    ax.xaxis.set_major_formatter(FuncFormatter(_percent))
    alt = f"Stapeldiagram, {title.lower()}. " + "; ".join(f"{label}: {pct(v)}" for label, v in rows) + "."
    return Chart(_svg(fig), alt, ["", what], [[label, pct(v)] for label, v in rows], FULL, title)


def volumes(periods: list[str], totals: list[int], title: str) -> Chart:
    fig, ax = plt.subplots(figsize=(FULL, 2.4), layout="constrained")
    ax.bar(range(len(periods)), totals, color=COLOURS["federations"], width=0.6)
    for i, value in enumerate(totals):
        ax.text(i, value, num(value), ha="center", va="bottom")
    ax.set_xticks(range(len(periods)), periods)
    ax.set_xlabel("Mätperiod")
    ax.set_yticks([])
    ax.set_ylim(0, max(totals or [1]) * 1.15)
    ax.spines["left"].set_visible(False)
    alt = f"Stapeldiagram, {title.lower()}: " + "; ".join(f"{p}: {num(v)}" for p, v in zip(periods, totals,
                                                                                          strict=True)) + "."
    return Chart(_svg(fig), alt, ["Period", "Enkäter"], [[p, num(v)] for p, v in zip(periods, totals, strict=True)],
                 FULL, title)
