"""The rules that decide what a report says, each in one place (docs/reports.md states them,
and tests/unit/test_report_rules.py holds code and docs together).

Every rule is decided on the figures as printed (whole percent, core.swedish.pct), so that
a reader who checks a marking or a rank against the table beside it always agrees with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.swedish import missing

# A federation is ranked, and its change since the period before is printed, only with at least
# this many respondents (n) in the group (both periods, for a change): below it the share moves
# too much by chance and, under the Cell Key Method, by the noise.
RANK_MIN_N = 20
# The order of the questionnaires in every table, chart and list (the catalogue's respondent_groups.csv).
GROUP_ORDER = ("deltagare", "personal", "styrelse", "chefsgrupp", "medremittent")


def points(share) -> int | None:
    """A share as the whole percent printed (72 for 0.7234), None when not shown."""
    return None if missing(share) else round(float(share) * 100)


def group_order(group: str) -> int:
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


def differs(low, high, nation) -> int:
    """+1 (clearly above) when the printed lower bound of the interval is above the printed national
    share, −1 (clearly below) when the printed upper bound is below it, else 0."""
    low, high, nation = points(low), points(high), points(nation)
    if low is None or high is None or nation is None:
        return 0
    return 1 if low > nation else -1 if high < nation else 0


def change(current, previous, n_current=None, n_previous=None, min_n: int = RANK_MIN_N) -> int | None:
    """The change in percentage points between two printed shares; None unless both are shown and,
    when the group sizes are given, both have at least `min_n` respondents."""
    now, before = points(current), points(previous)
    if now is None or before is None:
        return None
    if n_current is not None and (missing(n_current) or missing(n_previous) or min(n_current, n_previous) < min_n):
        return None
    return now - before


@dataclass(frozen=True)
class Ranked:
    code: str
    name: str
    n: int | None
    share: float | None
    low: float | None
    high: float | None
    rank: int | None  # None: not ranked (too few respondents, or not shown)
    shared: bool = False  # the same rank as another federation (the same printed share)


def rank(rows: Iterable[tuple[str, str, int | None, float | None, float | None, float | None]],
         min_n: int = RANK_MIN_N) -> list[Ranked]:
    """Rows (code, name, n, share, low, high), ranked by their printed share, highest first.

    Federations with the same printed share share a rank (1, 2, 2, 4); those with fewer than
    `min_n` respondents, or whose share is not shown, get no rank and follow the ranked ones."""
    rows = list(rows)
    rankable = [r for r in rows if points(r[3]) is not None and r[2] is not None and r[2] >= min_n]
    others = [r for r in rows if r not in rankable]
    shares = [points(r[3]) for r in rankable]
    out = []
    for r in sorted(rankable, key=lambda r: (-points(r[3]), r[1])):
        higher = sum(1 for s in shares if s > points(r[3]))
        out.append(Ranked(r[0], r[1], r[2], r[3], r[4], r[5], higher + 1, shares.count(points(r[3])) > 1))
    out += [Ranked(r[0], r[1], r[2], r[3], r[4], r[5], None)
            for r in sorted(others, key=lambda r: (points(r[3]) is None, -(points(r[3]) or 0), r[1]))]
    return out


def signature(questions: list[dict], indicator_id: int, group: str, period: str) -> tuple[str, ...]:
    """The comparability keys of the questions measuring an indicator in a questionnaire in a
    period: two periods' results are comparable only when these are the same."""
    return tuple(sorted({q["comparability_key"] for q in questions
                         if q["indicator_id"] == indicator_id and q["respondent_group"] == group
                         and q["valid_from"] <= period and (not q["valid_to"] or q["valid_to"] >= period)}))


@dataclass(frozen=True)
class LargeChange:
    period: str
    indicator_id: int
    respondent_group: str
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


def large_changes(national: Iterable[tuple[str, int, str, float | None]], questions: list[dict],
                  size: int) -> list[LargeChange]:
    """National changes of at least `size` printed points since the period before, between periods
    measured by the same questions. `national`: (period, indicator_id, group, positive_share) of
    the nation's Totalt rows."""
    series: dict[tuple[int, str], list[tuple[str, float | None]]] = {}
    for period, indicator_id, group, share in sorted(national):
        series.setdefault((int(indicator_id), group), []).append((period, share))
    found = []
    for (indicator_id, group), rows in series.items():
        for (before_period, before), (period, after) in zip(rows, rows[1:], strict=False):
            difference = change(after, before)
            if (difference is not None and abs(difference) >= size
                    and signature(questions, indicator_id, group, period)
                    == signature(questions, indicator_id, group, before_period)):
                found.append(LargeChange(period, indicator_id, group, points(before), points(after)))
    return sorted(found, key=lambda c: (c.period, c.indicator_id, group_order(c.respondent_group)))


def lix(text: str) -> float:
    """LIX, the Swedish readability index: words per sentence + the percentage of words longer
    than six letters. Under 30 very easy, 30–40 easy (popular texts), 40–50 medium, over 50 hard."""
    words = re.findall(r"[A-Za-zÅÄÖåäöÉéÜü]+", text)
    sentences = max(1, len(re.findall(r"[.!?:]+(?:\s|$)", text)))
    if not words:
        return 0.0
    return len(words) / sentences + 100 * sum(1 for w in words if len(w) > 6) / len(words)
