"""Building the reports: the national report, its popular version, and one report per
federation, each as self-contained HTML and as a PDF/UA-1 file typeset from that HTML.

Only the published database is read (report.data), so every number in a report can be
found with a query by an analyst. Numbers, dates and orders follow core.swedish; the
rules that decide what a report says are report.rules; charts come with a text
alternative and their data (report.charts); the front matter and the statistician's
comments are files NNS edits (report.publishing).

A document is keyed by what it prints: its HTML with the date and version left out. A
night whose new file changes no figure a document prints leaves the document as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.catalogue import NATION
from core.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from core.settings import Settings
from core.swedish import GENDER_NAMES, GENDERS, SUPPRESSED, decimal, missing, num, pct, pp, sort_key, swedish_date

from . import charts, rules
from .data import ReportData
from .pdf import pdf_bytes
from .publishing import Comment, comments, front_matter, large_change_points, version

__all__ = ["build_reports", "pct", "num", "pp", "swedish_date"]

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
NOT_ASKED = "–"  # nobody in the group: the questionnaire was not asked, or the point not yet observed
# Stand-ins for what a document says about its own edition, so that its key is what it prints.
DATE_MARK, VERSION_MARK, YEAR_MARK = "\x00DATE\x00", "\x00VERSION\x00", "\x00YEAR\x00"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters.update(pct=pct, num=num, pp=pp, decimal=decimal, signed=_signed)
    env.globals["css"] = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    env.globals.update(GENDERS=GENDERS, GENDER_NAMES=GENDER_NAMES, SUPPRESSED=SUPPRESSED, NOT_ASKED=NOT_ASKED,
                       RANK_MIN_N=rules.RANK_MIN_N)
    return env


def _signed(points) -> str:
    """A change in whole percentage points: +4, −3, ±0; '–' when it cannot be computed."""
    return NOT_ASKED if points is None else pp(points / 100)


def _none(value):
    return None if missing(value) else value


def _share(cell, column: str = "positive_share"):
    return _none(cell[column]) if cell and cell.get("status", "ok") == "ok" else None


NO_SURVEYS = "Publiceringen innehåller inga enkätresultat, så rapporten har inga avsnitt om enkäterna."
NO_REGISTERS = ("Publiceringen innehåller ingen fullständig registeruppföljning, så avsnitten om indikator 11 och "
                "Kön spelar roll saknas.")


class Results:
    """Every published indicator result, read once per job and looked up by key."""

    def __init__(self, db: ReportData):
        frame = db.all_results()
        self.periods = sorted(frame.period.unique())
        self.cells = {(r["period"], r["federation_code"], r["respondent_group"], int(r["indicator_id"]), r["gender"]):
                      r for r in frame.to_dict("records")}
        self.titles = db.indicator_titles()
        self.questions = db.question_list()
        self.group_names = db.group_names()
        self._signatures: dict = {}

    def cell(self, period, federation, group, indicator, gender="T") -> dict | None:
        return self.cells.get((period, federation, group, indicator, gender))

    def signature(self, indicator: int, group: str, period: str) -> tuple[str, ...]:
        key = (indicator, group, period)
        if key not in self._signatures:
            self._signatures[key] = rules.signature(self.questions, indicator, group, period)
        return self._signatures[key]

    def previous(self, period: str) -> str | None:
        i = self.periods.index(period)
        return self.periods[i - 1] if i > 0 else None

    def change(self, federation: str, group: str, indicator: int, period: str) -> int | None:
        """Points since the period before, when both are shown, measured by the same questions and
        each has at least rules.RANK_MIN_N respondents."""
        before = self.previous(period)
        if before is None or self.signature(indicator, group, before) != self.signature(indicator, group, period):
            return None
        now, then = self.cell(period, federation, group, indicator), self.cell(before, federation, group, indicator)
        return rules.change(_share(now), _share(then), (now or {}).get("n"), (then or {}).get("n"))

    def pairs(self, period: str, federation: str) -> list[tuple[int, str]]:
        """(indicator, group) with a result for the federation in the period, questionnaire order first."""
        found = {(k[3], k[2]) for k in self.cells if k[0] == period and k[1] == federation and k[4] == "T"}
        return sorted(found, key=lambda p: (rules.group_order(p[1]), p[0]))

    def runs(self, federation: str, indicator: int, group: str) -> list[list[tuple[str, float | None]]]:
        """The federation's shares per period, split where the questions changed (each run comparable)."""
        out: list[list[tuple[str, float | None]]] = []
        last = None
        for period in self.periods:
            cell = self.cell(period, federation, group, indicator)
            if cell is None:
                continue
            sig = self.signature(indicator, group, period)
            if sig != last:
                out.append([])
                last = sig
            out[-1].append((period, _share(cell)))
        return out


def _question_codes(results: Results, indicator: int, group: str, period: str) -> str:
    codes = sorted(q["question_code"] for q in results.questions
                   if q["indicator_id"] == indicator and q["respondent_group"] == group
                   and q["valid_from"] <= period and (not q["valid_to"] or q["valid_to"] >= period))
    return ", ".join(codes)


def _comments_for(notes: list[Comment], indicator: int, group: str, periods: list[str]) -> list[Comment]:
    return [c for c in notes if c.text and c.indicator_id == indicator and c.respondent_group == group
            and c.period in periods]


def national_context(db: ReportData, period: str | None, results: Results | None = None) -> dict:
    """`period` is None when the publication holds no survey results (registers only)."""
    registers = registers_context(db) if db.has_registers() else None
    base = {"registers": registers, "period": period, "threshold": db.threshold(), "method": db.method(),
            "no_registers": None if registers else NO_REGISTERS, "no_surveys": None}
    if period is None:
        return base | {"periods": [], "collection": [], "federations_in_period": 0, "participating": [],
                       "not_participating": [], "questionnaires": 0, "volumes": None, "sections": [],
                       "breaks": [], "summary": [], "overview": [], "no_surveys": NO_SURVEYS, "large": []}
    results = results or Results(db)
    notes = comments()
    collection = db.collection(period)
    history = db.collection_history()
    totals = history.groupby("period", sort=True)["questionnaires"].sum(min_count=1)
    participation = db.participation(period)
    taking_part = participation[participation.participated]
    names = dict(zip(participation.federation_code, participation.federation_name, strict=True))
    names |= db.federation_names()
    sections, overview, breaks = [], [], []
    by_indicator: dict[int, list[str]] = {}
    for indicator, group in results.pairs(period, NATION):
        by_indicator.setdefault(indicator, []).append(group)
    for indicator in sorted(by_indicator):
        title, official = results.titles[indicator]
        groups = []
        for group in by_indicator[indicator]:
            name = results.group_names.get(group, group)
            cells = {g: results.cell(period, NATION, group, indicator, g) for g in GENDERS}
            runs = results.runs(NATION, indicator, group)
            series = {}
            for run in runs:
                codes = _question_codes(results, indicator, group, run[-1][0])
                label = f"Riket, {codes}" + (f" (från {run[0][0]})" if len(runs) > 1 else "")
                series[label] = run
            if len(runs) > 1:
                breaks.append({"indicator": indicator, "group": name,
                               "questions": [f"{_question_codes(results, indicator, group, r[0][0])} "
                                             f"({r[0][0]}–{r[-1][0]})" for r in runs]})
            ranking = rules.rank(
                (code, common_name(names.get(code, code)), _none(c["n"]), _share(c), _share(c, "ci_low"),
                 _share(c, "ci_high"))
                for (p, code, g, i, gender), c in results.cells.items()
                if p == period and g == group and i == indicator and gender == "T" and code != NATION)
            ranked = [r for r in ranking if r.rank is not None]
            change = results.change(NATION, group, indicator, period)
            row = {"indicator": indicator, "title": title, "group": group, "name": name, "cells": cells,
                   "change": change}
            overview.append(row)
            groups.append(row | {
                "unweighted": _share(cells["T"], "federations_mean_share"),
                "trend": charts.trend(series, results.periods, f"{name}, riket per mätperiod",
                                      width=charts.HALF, height=2.1),
                "questions": _question_codes(results, indicator, group, period),
                "ranking": ranking,
                "spread": {"ranked": len(ranked), "listed": len(ranking),
                           "low": min((r.share for r in ranked), default=None),
                           "high": max((r.share for r in ranked), default=None)},
                "comments": _comments_for(notes, indicator, group, [period]),
                "earlier": _comments_for(notes, indicator, group, [p for p in results.periods if p < period]),
            })
        sections.append({
            "id": indicator, "title": title, "official": official, "groups": groups,
            "gender": charts.gender([(g["name"], _share(g["cells"]["K"]), _share(g["cells"]["M"])) for g in groups],
                                    f"Indikator {indicator}: kvinnor och män, riket {period}"),
        })
    overview.sort(key=lambda r: (rules.group_order(r["group"]), r["indicator"]))
    national = [(p, i, g, _share(c)) for (p, f, g, i, gender), c in results.cells.items()
                if f == NATION and gender == "T"]
    context = base | {
        "periods": results.periods,
        "previous": results.previous(period),
        "collection": sorted(collection.to_dict("records"), key=lambda r: rules.group_order(r["respondent_group"])),
        "federations_in_period": len(taking_part),
        "participating": sorted(taking_part.to_dict("records"), key=lambda r: sort_key(r["federation_name"])),
        "not_participating": sorted(participation[~participation.participated].to_dict("records"),
                                    key=lambda r: sort_key(r["federation_name"])),
        "questionnaires": int(collection.questionnaires.sum()),
        "volumes": charts.volumes(list(totals.index), [None if missing(v) else int(v) for v in totals.values],
                                  "Antal inkomna enkäter per mätperiod"),
        "sections": sections,
        "overview": overview,
        "breaks": breaks,
        "large_change_points": large_change_points(),
        "large": rules.large_changes(national, results.questions, large_change_points()),
    }
    context["summary"] = summary_sentences(context)
    return context


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " och " + items[-1]


def summary_sentences(context: dict) -> list[str]:
    """The sammanfattning, each sentence read from the figures printed in the report: the
    cover's counts and the table Resultaten i korthet (tests/integration/test_report_figures.py
    checks every sentence against the rendered document)."""
    period = context["period"]
    sentences = [
        f"Under mätperioden {period} lämnade {context['federations_in_period']} av "
        f"{context['federations_in_period'] + len(context['not_participating'])} samordningsförbund enkätsvar, "
        f"sammanlagt {num(context['questionnaires'])} enkäter."]
    rows = [(r["indicator"], r["name"].lower(), rules.points(_share(r["cells"]["T"])),
             rules.points(_share(r["cells"]["K"])), rules.points(_share(r["cells"]["M"])), r["change"])
            for r in context["overview"]]
    shown = [r for r in rows if r[2] is not None]
    if shown:
        high, low = max(r[2] for r in shown), min(r[2] for r in shown)
        top = [f"indikator {r[0]} bland {r[1]}" for r in shown if r[2] == high]
        bottom = [f"indikator {r[0]} bland {r[1]}" for r in shown if r[2] == low]
        sentences.append(f"Andelen positiva svar i riket var högst, {high} %, för {_listing(top)} och lägst, "
                         f"{low} %, för {_listing(bottom)}.")
        above = sum(1 for r in shown if r[2] >= 75)
        sentences.append(f"I {above} av de {len(shown)} resultaten för en indikator i en enkät svarade minst tre av "
                         "fyra positivt.")
        both = [r for r in shown if r[3] is not None and r[4] is not None]
        if both:
            widest = max(abs(r[3] - r[4]) for r in both)
            tied = [r for r in both if abs(r[3] - r[4]) == widest]
            if widest == 0:
                sentences.append("Kvinnor och män svarade lika ofta positivt i alla resultat.")
            else:
                parts = [f"indikator {r[0]} bland {r[1]} ({r[3]} % för kvinnor, {r[4]} % för män)" for r in tied]
                sentences.append(f"Den största skillnaden mellan kvinnor och män, {widest} procentenheter, gällde "
                                 f"{_listing(parts)}.")
    changes = [r[5] for r in shown if r[5] is not None]
    if changes and context.get("previous"):
        up = sum(1 for c in changes if c >= 3)
        down = sum(1 for c in changes if c <= -3)
        sentences.append(f"Jämfört med {context['previous']} ökade andelen med minst 3 procentenheter i {up} och "
                         f"minskade lika mycket i {down} av de {len(changes)} resultat som kan jämföras.")
    registers = context.get("registers")
    if registers and registers.get("nation12"):
        share = _share(registers["nation12"], "share_sustainable")
        if share is not None:
            sentences.append(f"Av deltagarna som avslutade en insats {registers['cohort']} var {pct(share)} "
                             "självförsörjande både ett halvår och ett år efteråt (indikator 11).")
    if context["not_participating"]:
        sentences.append(f"{len(context['not_participating'])} förbund lämnade inga enkäter för {period}; de "
                         "räknas inte in i resultaten.")
    return sentences


def registers_context(db: ReportData) -> dict | None:
    """Indicator 11 and the gender analysis, from the published register marts (db.indicator11)."""
    data = db.indicator11()
    if data is None:
        return None
    cohort = data["cohort"]
    labels = db.support_labels()
    insatser = db.insatser()
    support_order = db.support_order()
    national = data["national"]
    cohorts = sorted(national.cohort_year.unique())

    def value(frame: pd.DataFrame, **where):
        rows = frame
        for column, wanted in where.items():
            rows = rows[rows[column] == wanted]
        return rows.iloc[0].to_dict() if len(rows) else None

    table = []
    for year in cohorts:
        row = {"cohort": int(year)}
        for months in data["followups"]:
            for gender in GENDERS:
                row[f"{months}{gender}"] = value(national, cohort_year=year, followup_months=months, gender=gender)
        table.append(row)
    series = {f"{m} månader": [(str(y), _share(value(national, cohort_year=y, followup_months=m, gender="T"),
                                             "share_sustainable")) for y in cohorts] for m in data["followups"]}
    spread = data["federations"]
    spread = spread[(spread.cohort_year == cohort) & (spread.followup_months == 12)]
    nation12 = value(national, cohort_year=cohort, followup_months=12, gender="T")

    def insats_name(code: str) -> str:
        return insatser.get(code, (code, 99))[0]

    def breakdown(frame: pd.DataFrame, names, order) -> list[dict]:
        groups = dict(list(frame.groupby("label", sort=False)))
        return [{"label": names(label), **{g: value(groups[label], gender=g) for g in GENDERS}}
                for label in sorted(groups, key=order)]

    by_insats = breakdown(data["by_insats"], insats_name, lambda c: (insatser.get(c, (c, 99))[1], c))
    by_support = breakdown(data["by_support"], lambda c: labels.get(c, c),
                           lambda c: support_order.index(c) if c in support_order else 99)
    gender_rows = []
    for insats, rows in data["gender"].groupby("insats", sort=False):
        cells = {g: value(rows, gender=g) for g in GENDERS}
        women, everyone = cells["K"], cells["T"]
        share_women = (women["participants"] / everyone["participants"]
                       if women and everyone and not missing(women["participants"])
                       and not missing(everyone["participants"]) and everyone["participants"] else None)
        gender_rows.append({"code": insats, "insats": "Alla insatser" if insats == "alla" else insats_name(insats),
                            "cells": cells, "share_women": share_women})
    gender_rows.sort(key=lambda r: (r["code"] != "alla", insatser.get(r["code"], (r["code"], 99))[1]))
    to_own = []
    transitions = data["transitions"]
    for start in sorted(transitions.support_at_start.unique(),
                        key=lambda c: support_order.index(c) if c in support_order else 99):
        rows = transitions[transitions.support_at_start == start]
        entry = {"start": labels.get(start, start)}
        for gender in GENDERS:
            mine = rows[rows.gender == gender]
            total = value(mine, support_at_end="alla")
            own = mine[mine.support_at_end.isin(["lon", "studiemedel"])]
            if total is None or total["status"] != "ok" or (own.status != "ok").any():
                entry[gender] = None
            else:
                entry[gender] = float(own.participants.sum()) / float(total["participants"])
        entry["n"] = value(rows[rows.gender == "T"], support_at_end="alla")
        to_own.append(entry)
    # Federations ranked by the share sustainable at 12 months (the rule for ranks: report.rules.rank).
    ranking = rules.rank((r.federation_code, common_name(r.federation_name), _none(r.n_observed),
                          _none(r.share_sustainable) if r.status == "ok" else None, None, None)
                         for r in spread.itertuples())
    return {
        "cohort": int(cohort),
        "cohorts": [int(c) for c in cohorts],
        "followups": data["followups"],
        "table": table,
        "nation12": nation12,
        "trend": charts.trend(series, [str(c) for c in cohorts], "Hållbart självförsörjande per avslutsår, riket",
                              width=charts.FULL, height=2.4, what="Andel hållbart självförsörjande"),
        "ranking": ranking,
        "by_insats": by_insats,
        "by_support": by_support,
        "gender_rows": gender_rows,
        "gender": charts.gender([(r["insats"], _share(r["cells"]["K"], "share_work_or_studies"),
                                  _share(r["cells"]["M"], "share_work_or_studies")) for r in gender_rows],
                                f"Till arbete eller studier vid avslut, avslutade {cohort}",
                                what="Andel till arbete eller studier"),
        "to_own": to_own,
    }


def popular_context(national: dict) -> dict:
    """The short version: the best and weakest results in plain words, indicator 11, women and men."""
    statements = []
    for row in national["overview"]:
        share = _share(row["cells"]["T"])
        if share is not None:
            statements.append({"id": row["indicator"], "title": row["title"], "group": row["group"],
                               "name": row["name"], "share": share, "points": rules.points(share),
                               "women": rules.points(_share(row["cells"]["K"])),
                               "men": rules.points(_share(row["cells"]["M"]))})
    statements.sort(key=lambda r: (-r["points"], r["id"]))
    top, bottom = statements[:3], (statements[-3:][::-1] if len(statements) > 3 else [])
    both = [s for s in statements if s["women"] is not None and s["men"] is not None]
    women_higher = sum(1 for s in both if s["women"] - s["men"] >= 3)
    men_higher = sum(1 for s in both if s["men"] - s["women"] >= 3)
    chart = charts.bars([(f"{s['id']}. {POPULAR_GROUPS.get(s['group'], s['name'])}", s["share"])
                         for s in top + bottom], "Andel som svarade positivt, per område",
                        what="Andel") if statements else None
    return national | {
        "statements": statements, "top": top, "bottom": bottom, "chart": chart,
        "women_higher": women_higher, "men_higher": men_higher, "similar": len(both) - women_higher - men_higher,
        "popular_groups": POPULAR_GROUPS,
    }


# The questionnaires in plain words, for the popular version.
POPULAR_GROUPS = {"deltagare": "deltagarna", "personal": "personalen", "styrelse": "styrelserna",
                  "chefsgrupp": "cheferna", "medremittent": "de som skickar deltagare"}


def federation_context(db: ReportData, results: Results, period: str, code: str, name: str, common: dict) -> dict:
    """`common`: threshold, method, and the national indicator 11 values (the same for every federation)."""
    notes = comments()
    short = common_name(name)
    table = []
    for indicator, group in results.pairs(period, code):
        cells = {g: results.cell(period, code, group, indicator, g) for g in GENDERS}
        national = results.cell(period, NATION, group, indicator)
        nation = _share(national)
        own = _share(cells["T"])
        table.append({
            "indicator": indicator, "title": results.titles[indicator][0], "group": group,
            "name": results.group_names.get(group, group), "cells": cells, "nation": nation,
            "differs": rules.differs(_share(cells["T"], "ci_low"), _share(cells["T"], "ci_high"), nation)
            if own is not None else 0,
            "difference": None if own is None or nation is None else rules.points(own) - rules.points(nation),
            "change": results.change(code, group, indicator, period),
            "gender_differs": {g: rules.differs(_share(cells[g], "ci_low"), _share(cells[g], "ci_high"), nation)
                               for g in ("K", "M")},
        })
    trends = []
    for row in table:
        runs = results.runs(code, row["indicator"], row["group"])
        latest = runs[-1] if runs else []
        periods = [p for p, _ in latest]
        nation = [(p, _share(results.cell(p, NATION, row["group"], row["indicator"]))) for p in periods]
        trends.append({"row": row, "from": periods[0] if periods else None, "points": dict(latest),
                       "chart": charts.trend({short: latest, "Riket": nation}, results.periods,
                                             f"Indikator {row['indicator']}, {row['name'].lower()}",
                                             width=charts.THIRD, height=1.3, y_label=False, legend=False,
                                             colours={short: charts.COLOURS["own"], "Riket": charts.COLOURS["nation"]}),
                       "questions": _question_codes(results, row["indicator"], row["group"], period)})
    shown = [r for r in table if _share(r["cells"]["T"]) is not None]
    changes = [r["change"] for r in shown if r["change"] is not None]
    collection = sorted(db.federation_collection(period, code).to_dict("records"),
                        key=lambda r: rules.group_order(r["respondent_group"]))
    registers = None
    if common.get("cohort"):
        own = db.indicator11_federations(common["cohort"], code)
        registers = {"cohort": common["cohort"],
                     "rows": [{"cohort": int(r.cohort_year), "months": int(r.followup_months),
                               "own": None if r.status != "ok" else _none(r.share_sustainable),
                               "own_self": None if r.status != "ok" else _none(r.share_self_supporting),
                               "n": None if r.status != "ok" else r.n_observed,
                               "nation": common["nation_i11"].get((int(r.cohort_year), int(r.followup_months)))}
                              for r in own.itertuples()]}
        registers["headline"] = next((r for r in registers["rows"]
                                      if r["cohort"] == common["cohort"] and r["months"] == 12), None)
    groups = [r["group"] for r in table]
    return {
        "registers": registers,
        "no_registers": None if registers else NO_REGISTERS,
        "period": period,
        "previous": results.previous(period),
        "periods": results.periods,
        "threshold": common["threshold"],
        "method": common["method"],
        "federation_code": code,
        "federation_name": name,
        "short_name": short,
        "has_data": bool(table),
        "collection": collection,
        "show_answered": any(r["answered"] != r["rows_received"] for r in collection),
        "questionnaires": sum(int(r["rows_received"]) for r in collection if not missing(r["rows_received"])),
        "table": table,
        "shown": shown,
        "above": [r for r in table if r["differs"] > 0],
        "below": [r for r in table if r["differs"] < 0],
        "up": sum(1 for c in changes if c >= 3),
        "down": sum(1 for c in changes if c <= -3),
        "comparable": len(changes),
        "trends": trends,
        "comparison": charts.comparison(
            [(f"{r['indicator']}. {r['name']}", _share(r["cells"]["T"]), _share(r["cells"]["T"], "ci_low"),
              _share(r["cells"]["T"], "ci_high"), r["nation"]) for r in table],
            f"Andel positiva svar {period}", short) if table else None,
        "comments": [c for c in notes if c.text and c.respondent_group in groups
                     and any(r["indicator"] == c.indicator_id and r["group"] == c.respondent_group for r in table)
                     and c.period in results.periods],
    }


def common_name(name: str) -> str:
    """'Samordningsförbundet Gotland' -> 'Gotland' (short enough for a legend)."""
    return name.removeprefix("Samordningsförbundet ").removeprefix("Finsam ") or name


def _common(db: ReportData) -> dict:
    """What the federation reports share with the national one."""
    common = {"threshold": db.threshold(), "method": db.method()}
    cohort = db.indicator11_cohort() if db.has_registers() else None
    if cohort is not None:
        national = db.indicator11_national()
        common["cohort"] = int(cohort)
        common["nation_i11"] = {
            (int(r.cohort_year), int(r.followup_months)): (_none(r.share_sustainable) if r.status == "ok" else None)
            for r in national[national.gender == "T"].itertuples()}
    return common


# ---- writing: keyed by what a document prints ----

MANIFEST = "manifest.json"


def _slug(period: str | None) -> str:
    return period.replace("/", "-") if period else "register"


def _edition(html: str, title: str, period: str | None, previous: dict | None) -> tuple[str, str, dict]:
    """(key, the final HTML, the manifest entry): the key is the HTML with its edition left out; a
    document whose key is unchanged keeps its date and revision, a changed one gets today and the next."""
    key = hashlib.sha256(html.encode("utf-8")).hexdigest()
    if previous and previous.get("key") == key:
        entry = previous
    else:
        entry = {"key": key, "revision": (previous or {}).get("revision", -1) + 1, "date": date.today().isoformat()}
    day = date.fromisoformat(entry["date"])
    final = (html.replace(DATE_MARK, swedish_date(day)).replace(VERSION_MARK, version(entry["revision"]))
             .replace(YEAR_MARK, str(day.year)))
    return key, final, entry


def _front(title: str, period: str | None) -> dict:
    """The front matter with the date, version and year as stand-ins (filled in by `_edition`)."""
    return front_matter(title, period, DATE_MARK, VERSION_MARK, YEAR_MARK) | {"title": title}


def _write(out: Path, name: str, html: str, title: str, period: str | None, previous: dict | None,
           pdf: bool, force: bool) -> dict | None:
    """Write `name`.html (and .pdf) if what it prints changed, or a file is missing; returns the new
    manifest entry, or None when the document was kept."""
    key, final, entry = _edition(html, title, period, previous)
    files = [out / f"{name}.html"] + ([out / f"{name}.pdf"] if pdf else [])
    if not force and previous and previous.get("key") == key and all(f.exists() for f in files):
        return None
    if pdf:
        atomic_write_bytes(out / f"{name}.pdf", pdf_bytes(final), mode=0o644)
    atomic_write_text(out / f"{name}.html", final, mode=0o644)
    return entry


def _render(env: Environment, template: str, context: dict, title: str) -> str:
    return env.get_template(template).render(**context, front=_front(title, context.get("period")))


def national_title(period: str | None) -> str:
    return f"Indikatorarbetet – nationell rapport {period or 'registeruppföljning'}"


def popular_title(period: str | None) -> str:
    return f"Indikatorarbetet {period or ''} i korthet".replace("  ", " ")


def federation_title(name: str, period: str) -> str:
    return f"{name} – indikatorarbetet {period}"


# Every result, read once by build_reports before its pool forks: the jobs share it (copy-on-write).
_READ: Results | None = None


def _national_job(published: Path, out: Path, period: str | None, manifest: dict, pdf: bool, force: bool) -> dict:
    db = ReportData.open(published)
    try:
        env = _environment()
        national = national_context(db, period, _READ if period else None)
        written = {}
        for name, template, context, title in (
                (f"nationell-rapport-{_slug(period)}", "national.html.j2", national, national_title(period)),
                (f"kortversion-{_slug(period)}", "popular.html.j2", popular_context(national), popular_title(period))):
            written[name] = _write(out, name, _render(env, template, context, title), title, period,
                                   manifest.get(name), pdf, force)
        return written
    finally:
        db.close()


def _federation_job(published: Path, out: Path, period: str, rows: list[tuple[str, str]], common: dict,
                    manifest: dict, pdf: bool, force: bool) -> dict:
    db = ReportData.open(published)
    try:
        env = _environment()
        results = _READ or Results(db)
        written = {}
        for code, name in rows:
            context = federation_context(db, results, period, code, name, common)
            title = federation_title(name, period)
            key = f"forbund/{code}-{_slug(period)}"
            written[key] = _write(out, key, _render(env, "federation.html.j2", context, title), title, period,
                                  manifest.get(key), pdf, force)
        return written
    finally:
        db.close()


def read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def build_reports(settings: Settings, *, federations: list[str] | None = None, pdf: bool = True,
                  workers: int = 2, progress: Callable[[int, int], None] | None = None,
                  rewrite_all: bool = False) -> Path:
    """Write publish/report/: national report, popular version, one report per federation.

    Every document is rendered as HTML (fast); only one whose printed content changed since it was
    written, or whose files are missing, is written again with its PDF (every one with `rewrite_all`).
    The keys, dates and revisions are kept in publish/report/manifest.json.

    The national report and batches of federation reports are jobs for a pool of `workers`
    processes, so both cores stay busy. `progress(done, total)` is called as documents finish."""
    published, out = settings.published_database, settings.reports
    report_progress = progress or (lambda done, total: None)
    db = ReportData.open(published)
    try:
        period = db.latest_period()
        chosen = db.participation(period) if period else pd.DataFrame(columns=["federation_code", "federation_name"])
        if federations is not None:
            chosen = chosen[chosen.federation_code.isin(federations)]
        common = _common(db)
        global _READ
        _READ = Results(db) if period else None
    finally:
        db.close()  # before the pool forks
    (out / "forbund").mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    documents = manifest.get("reports", {})
    rows = sorted(zip(chosen.federation_code, chosen.federation_name, strict=True), key=lambda r: r[0])
    per_job = max(1, -(-len(rows) // (3 * max(workers, 1))))  # about three jobs per worker, for balance
    jobs = [(_national_job, (published, out, period, documents, pdf, rewrite_all))]
    jobs += [(_federation_job, (published, out, period, rows[i:i + per_job], common, documents, pdf, rewrite_all))
             for i in range(0, len(rows), per_job)]
    total, done, written = 2 + len(rows), 0, {}
    # A Celery worker's task process is daemonic and may not start children: work in turn there.
    if workers > 1 and len(jobs) > 1 and not multiprocessing.current_process().daemon:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            for future in as_completed([pool.submit(job, *args) for job, args in jobs]):
                result = future.result()
                written |= result
                done += len(result)
                report_progress(done, total)
    else:
        for job, args in jobs:
            result = job(*args)
            written |= result
            done += len(result)
            report_progress(done, total)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for name, entry in written.items():
        if entry is not None:
            documents[name] = entry
    rewritten = sorted(n for n, e in written.items() if e is not None)
    kept = sorted(n for n, e in written.items() if e is None)
    atomic_write_json(out / MANIFEST, {"reports": documents, "last_run": {
        "at": now, "period": period, "written": rewritten, "kept": kept}})
    log.info("Reports for %s in %s: %d rewritten, %d unchanged and kept", period, out, len(rewritten), len(kept))
    return out
