"""Charts as inline SVG (text as paths), so a report is one self-contained file."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from .escape import chart_text  # noqa: E402

plt.rcParams.update({
    "svg.fonttype": "none",  # real text: small files, selectable, rendered in the page's font
    "svg.hashsalt": "nns",  # stable ids, so the same data gives the same file
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "figure.constrained_layout.use": True,
})

COLOURS = {"K": "#b0406e", "M": "#2f6f9f", "T": "#3d3d3d", "nation": "#d08c00", "federation": "#2f6f9f"}
SERIES = ["#2f6f9f", "#b0406e", "#4d8a3a", "#8a5a2b", "#6b4c9a"]
PERCENT = PercentFormatter(1.0, decimals=0)


def _swedish_percent(value, _pos=None) -> str:
    return f"{value * 100:.0f} %"


def _svg(fig) -> str:
    buffer = io.StringIO()
    # A fixed canvas (no tight bounding box), so charts placed side by side share one scale.
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def trend(series: dict[str, list[tuple[str, float | None]]], periods: list[str], title: str) -> str:
    """One line per comparable series; a gap where a value is suppressed."""
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    for i, (label, points) in enumerate(series.items()):
        xs = [periods.index(p) for p, _ in points]
        ys = [v if v is not None else float("nan") for _, v in points]
        ax.plot(xs, ys, marker="o", color=SERIES[i % len(SERIES)], label=chart_text(label), linewidth=1.8, markersize=4)
    ax.set_xticks(range(len(periods)), [p[2:] for p in periods], fontsize=7.5)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(FuncFormatter(_swedish_percent))
    ax.set_title(chart_text(title), loc="left")
    ax.grid(axis="y", color="#e4e4e4")
    ax.legend(frameon=False, fontsize=7.5, loc="lower left")
    return _svg(fig)


def spread(shares: list[float], national: float | None, hidden: int, title: str) -> str:
    """Federations' positive shares, sorted, with the national value as a line."""
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.bar(range(len(shares)), shares, color=COLOURS["federation"], width=0.75)
    if national is not None:
        ax.axhline(national, color=COLOURS["nation"], linewidth=2, label=f"Riket {_swedish_percent(national)}")
        ax.legend(frameon=True, framealpha=0.9, edgecolor="none", fontsize=7.5, loc="upper right")
    ax.set_xticks([])
    ax.set_xlabel(f"{len(shares)} förbund, sorterade" + (f"; {hidden} visas inte (..)" if hidden else ""),
                  fontsize=7.5)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(FuncFormatter(_swedish_percent))
    ax.set_title(chart_text(title), loc="left")
    ax.grid(axis="y", color="#e4e4e4")
    return _svg(fig)


def gender(rows: list[tuple[str, float | None, float | None]], title: str) -> str:
    """Women and men side by side per questionnaire: (label, share K, share M)."""
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(rows)))
    for i, (_label, women, men) in enumerate(rows):
        for offset, value, key, name in ((-0.18, women, "K", "Kvinnor"), (0.18, men, "M", "Män")):
            if value is None:
                ax.text(0.01, i + offset, "..", va="center", fontsize=8, color="#666")
            else:
                ax.barh(i + offset, value, height=0.34, color=COLOURS[key], label=name if i == 0 else None)
                ax.text(value + 0.01, i + offset, _swedish_percent(value), va="center", fontsize=7.5)
    ax.set_yticks(range(len(rows)), [chart_text(r[0]) for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.xaxis.set_major_formatter(FuncFormatter(_swedish_percent))
    ax.set_title(chart_text(title), loc="left")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def comparison(rows: list[tuple[str, float | None, float | None]], title: str, who: str) -> str:
    """A federation against the nation per indicator: (label, federation, nation)."""
    fig, ax = plt.subplots(figsize=(6.6, 0.8 + 0.2 * len(rows)))
    for i, (_label, own, nation) in enumerate(rows):
        if nation is not None:
            ax.plot(nation, i, "|", color=COLOURS["nation"], markersize=14, markeredgewidth=2.5,
                    label="Riket" if i == 0 else None)
        if own is not None:
            ax.plot(own, i, "o", color=COLOURS["federation"], markersize=6, label=chart_text(who) if i == 0 else None)
            if nation is not None:
                ax.plot([nation, own], [i, i], color="#9ab", linewidth=1)
        else:
            ax.text(0.02, i, "..", va="center", fontsize=8, color="#666")
    ax.set_yticks(range(len(rows)), [chart_text(r[0]) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1.03)
    ax.xaxis.set_major_formatter(FuncFormatter(_swedish_percent))
    ax.xaxis.tick_top()
    ax.grid(axis="x", color="#e4e4e4")
    ax.set_title(chart_text(title), loc="left")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def bars(rows: list[tuple[str, float | None]], title: str) -> str:
    """Horizontal bars with their values: (label, share); '..' where suppressed."""
    fig, ax = plt.subplots(figsize=(6.6, 0.7 + 0.155 * len(rows)))
    for i, (_label, value) in enumerate(rows):
        if value is None:
            ax.text(0.01, i, "..", va="center", fontsize=7.5, color="#666")
        else:
            ax.barh(i, value, height=0.7, color=COLOURS["federation"])
            ax.text(value + 0.01, i, _swedish_percent(value), va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), [chart_text(r[0]) for r in rows], fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1.08)
    ax.xaxis.set_major_formatter(FuncFormatter(_swedish_percent))
    ax.set_title(chart_text(title), loc="left")
    return _svg(fig)


def volumes(periods: list[str], totals: list[int], title: str) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 2.1))
    ax.bar(range(len(periods)), totals, color=COLOURS["federation"], width=0.6)
    for i, value in enumerate(totals):
        ax.text(i, value, f"{value:,}".replace(",", "\u202f"), ha="center", va="bottom", fontsize=7.5)
    ax.set_xticks(range(len(periods)), [chart_text(p) for p in periods])
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_title(chart_text(title), loc="left")
    return _svg(fig)
