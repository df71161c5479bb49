"""Building the reports: the national report, its popular version, and one
report per participating federation, each as self-contained HTML and as a tagged
(PDF/UA) PDF.

Only the published database is read (report.data), so every number in a report
can be found with a query by an analyst, and suppressed cells show as `..`.
Numbers, dates and orders follow report.swedish; charts come with a text
alternative and their data (report.charts).
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
from core.files import atomic_write_json, atomic_write_text, staged_file
from core.settings import Settings
from core.swedish import GENDER_NAMES, GENDERS, SUPPRESSED, decimal, missing, num, pct, pp, sort_key, swedish_date
from publication.reader import PublishedDatabase

from . import charts
from .data import ReportData
from .pdf import write_pdf

__all__ = ["FEDERATIONS_PER_JOB", "build_reports", "pct", "num", "pp", "swedish_date"]

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
GROUP_ORDER = ["deltagare", "personal", "styrelse", "chefsgrupp", "medremittent"]


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters.update(pct=pct, num=num, pp=pp, decimal=decimal)
    env.globals["css"] = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    env.globals.update(GENDERS=GENDERS, GENDER_NAMES=GENDER_NAMES, SUPPRESSED=SUPPRESSED)
    return env


def _value(frame: pd.DataFrame, **where):
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.iloc[0].to_dict() if len(rows) else None


def _none(value):
    return None if missing(value) else value


def _share(cell, column: str = "positive_share"):
    return _none(cell[column]) if cell and cell.get("status", "ok") == "ok" else None


def _group_names(db: ReportData) -> dict[str, str]:
    return dict(db.db.query("select distinct respondent_group, respondent_group_name from questions"))


def _ordered(groups) -> list[str]:
    return sorted(groups, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else 99)


def _differs(cell) -> int:
    """+1/−1 when the federation's interval lies wholly above/below the national value, else 0."""
    if not cell or cell.get("status") != "ok":
        return 0
    low, high, nation = (_none(cell.get(k)) for k in ("ci_low", "ci_high", "national_positive_share"))
    if low is None or high is None or nation is None:
        return 0
    return 1 if low > nation else -1 if high < nation else 0


NO_SURVEYS = "Publiceringen innehåller inga enkätresultat, så rapporten har inga avsnitt om enkäterna."
NO_REGISTERS = ("Publiceringen innehåller ingen fullständig registeruppföljning, så avsnitten om indikator 11 och "
                "Kön spelar roll saknas.")


def national_context(db: ReportData, period: str | None) -> dict:
    """`period` is None when the publication holds no survey results (registers only)."""
    names = _group_names(db)
    registers = registers_context(db) if db.has_registers() else None
    if period is None:
        return {"registers": registers, "period": None, "periods": [], "threshold": db.threshold(),
                "method": db.method(),
                "today": swedish_date(date.today()), "collection": [], "federations_in_period": 0,
                "participating": [], "not_participating": [], "questionnaires": 0, "volumes": None,
                "sections": [], "breaks": [], "group_names": names, "summary": [],
                "no_surveys": NO_SURVEYS, "no_registers": None if registers else NO_REGISTERS}
    periods = db.periods()
    collection = db.collection(period)
    history = db.collection_history()
    totals = history.groupby("period", sort=True)["questionnaires"].sum()
    participation = db.participation(period)
    taking_part = participation[participation.participated]
    codes = dict(zip(participation.federation_code, participation.federation_name, strict=True))
    sections = []
    breaks = []
    for indicator in db.survey_indicators(period).itertuples():
        national = db.national(period, indicator.indicator_id)
        groups = []
        for group in _ordered(indicator.respondent_groups):
            cells = {g: _value(national, respondent_group=group, gender=g) for g in GENDERS}
            trend = db.trend(indicator.indicator_id, group)
            series = {}
            for _key, rows in trend.groupby("comparability_key", sort=True):
                label = f"Fråga {rows.question_code.iloc[-1]} (från {rows.series_first_period.iloc[0]})"
                series[label] = [(r.period, _none(r.positive_share)) for r in rows.itertuples()]
            if len(series) > 1:
                breaks.append({"indicator": indicator.indicator_id, "group": names.get(group, group),
                               "questions": [f"{r.question_code.iloc[-1]}: {r.question_text.iloc[-1]}"
                                             for _, r in trend.groupby("comparability_key", sort=True)]})
            spread = db.spread(period, indicator.indicator_id, group)
            shown = [float(v) for v in spread[spread.status == "ok"].positive_share]
            total = _share(cells["T"])
            name = names.get(group, group)
            groups.append({
                "name": name,
                "cells": cells,
                "unweighted": _share(cells["T"], "federations_mean_share"),
                "trend": charts.trend(series, periods, f"{name}: utveckling, riket"),
                "ranked": charts.ranked(
                    [(r.federation_code, common_name(codes.get(r.federation_code, r.federation_name)),
                      _none(r.positive_share) if r.status == "ok" else None) for r in spread.itertuples()],
                    total, f"{name}: förbunden {period}"),
                "spread": {"shown": len(shown), "hidden": int((spread.status != "ok").sum()),
                           "low": min(shown) if shown else None, "high": max(shown) if shown else None},
                "has_break": len(series) > 1,
                "trend_series": series,
            })
        sections.append({
            "id": indicator.indicator_id,
            "title": indicator.indicator_title,
            "official": bool(indicator.is_official_text),
            "groups": groups,
            "gender": charts.gender([(g["name"], _share(g["cells"]["K"]), _share(g["cells"]["M"])) for g in groups],
                                    f"Indikator {indicator.indicator_id}: kvinnor och män, riket {period}"),
        })
    context = {
        "registers": registers,
        "no_surveys": None,
        "no_registers": None if registers else NO_REGISTERS,
        "period": period,
        "periods": periods,
        "threshold": db.threshold(),
        "method": db.method(),
        "today": swedish_date(date.today()),
        "collection": collection.to_dict("records"),
        "federations_in_period": len(taking_part),
        "participating": sorted(taking_part.to_dict("records"), key=lambda r: sort_key(r["federation_name"])),
        "not_participating": sorted(participation[~participation.participated].to_dict("records"),
                                    key=lambda r: sort_key(r["federation_name"])),
        "questionnaires": int(collection.questionnaires.sum()),
        "volumes": charts.volumes(list(totals.index), [int(v) for v in totals.values],
                                  "Antal inkomna enkäter per mätperiod"),
        "sections": sections,
        "breaks": breaks,
        "group_names": names,
    }
    context["summary"] = summary_sentences(context)
    return context


def summary_sentences(context: dict) -> list[str]:
    """The sammanfattning: five to eight sentences, each read from the data."""
    period = context["period"]
    sentences = [
        f"Under mätperioden {period} lämnade {context['federations_in_period']} av "
        f"{context['federations_in_period'] + len(context['not_participating'])} samordningsförbund enkätsvar, "
        f"sammanlagt {num(context['questionnaires'])} enkäter."]
    rows = [(s["id"], g["name"], _share(g["cells"]["T"]), _share(g["cells"]["K"]), _share(g["cells"]["M"]))
            for s in context["sections"] for g in s["groups"]]
    shown = [r for r in rows if r[2] is not None]
    if shown:
        high, low = max(shown, key=lambda r: r[2]), min(shown, key=lambda r: r[2])
        sentences.append(f"Andelen positiva svar i riket var högst för indikator {high[0]} bland "
                         f"{high[1].lower()} ({pct(high[2])}) och lägst för indikator {low[0]} bland "
                         f"{low[1].lower()} ({pct(low[2])}).")
        above = sum(1 for r in shown if r[2] >= 0.75)
        sentences.append(f"I {above} av {len(shown)} jämförelser mellan indikator och enkät svarade minst tre av "
                         "fyra positivt.")
        both = [r for r in shown if r[3] is not None and r[4] is not None]
        if both:
            widest = max(both, key=lambda r: abs(r[3] - r[4]))
            more = "kvinnor" if widest[3] > widest[4] else "män"
            sentences.append(f"Den största skillnaden mellan kvinnor och män gällde indikator {widest[0]} bland "
                             f"{widest[1].lower()}, där {more} oftare svarade positivt ({pct(widest[3])} mot "
                             f"{pct(widest[4])} för kvinnor respektive män).")
    first = context["periods"][0] if context["periods"] else period
    trends = []
    for section in context["sections"]:
        for g in section["groups"]:
            points = [p for p in (list(g["trend_series"].values())[-1] if g["trend_series"] else [])
                      if p[1] is not None]
            if len(points) >= 2:
                trends.append(points[-1][1] - points[0][1])
    if trends:
        up = sum(1 for d in trends if d > 0.02)
        down = sum(1 for d in trends if d < -0.02)
        sentences.append(f"Sedan serierna började (tidigast {first}) har andelen ökat med mer än två procentenheter "
                         f"i {up} av {len(trends)} serier och minskat lika mycket i {down}.")
    registers = context.get("registers")
    if registers and registers.get("nation12"):
        share = _share(registers["nation12"], "share_sustainable")
        if share is not None:
            sentences.append(f"Av deltagarna som avslutade en insats {registers['cohort']} var {pct(share)} hållbart "
                             "självförsörjande tolv månader senare (indikator 11).")
    if context["not_participating"]:
        sentences.append(f"{len(context['not_participating'])} förbund lämnade inga enkäter för {period}; de "
                         "räknas inte in i resultaten.")
    return sentences[:8]


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
    table = []
    for year in cohorts:
        row = {"cohort": int(year)}
        for months in data["followups"]:
            for gender in GENDERS:
                row[f"{months}{gender}"] = _value(national, cohort_year=year, followup_months=months, gender=gender)
        table.append(row)
    series = {f"{m} månader": [(str(y), _share(_value(national, cohort_year=y, followup_months=m, gender="T"),
                                              "share_sustainable")) for y in cohorts] for m in data["followups"]}
    spread = data["federations"]
    spread = spread[(spread.cohort_year == cohort) & (spread.followup_months == 12)]
    nation12 = _value(national, cohort_year=cohort, followup_months=12, gender="T")

    def insats_name(code: str) -> str:
        return insatser.get(code, (code, 99))[0]

    def breakdown(frame: pd.DataFrame, names, order) -> list[dict]:
        groups = dict(list(frame.groupby("label", sort=False)))
        return [{"label": names(label), **{g: _value(groups[label], gender=g) for g in GENDERS}}
                for label in sorted(groups, key=order)]

    by_insats = breakdown(data["by_insats"], insats_name, lambda c: (insatser.get(c, (c, 99))[1], c))
    by_support = breakdown(data["by_support"], lambda c: labels.get(c, c),
                           lambda c: support_order.index(c) if c in support_order else 99)
    gender_rows = []
    for insats, rows in data["gender"].groupby("insats", sort=False):
        cells = {g: _value(rows, gender=g) for g in GENDERS}
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
            total = _value(mine, support_at_end="alla")
            own = mine[mine.support_at_end.isin(["lon", "studiemedel"])]
            if total is None or total["status"] != "ok" or (own.status != "ok").any():
                entry[gender] = None
            else:
                entry[gender] = float(own.participants.sum()) / float(total["participants"])
        entry["n"] = _value(rows[rows.gender == "T"], support_at_end="alla")
        to_own.append(entry)
    return {
        "cohort": int(cohort),
        "cohorts": [int(c) for c in cohorts],
        "followups": data["followups"],
        "table": table,
        "nation12": nation12,
        "trend": charts.trend(series, [str(c) for c in cohorts], "Hållbart självförsörjande per avslutsår, riket",
                              width=charts.FULL, what="Andel hållbart självförsörjande"),
        "ranked": charts.ranked([(r.federation_code, common_name(r.federation_name),
                                  _none(r.share_sustainable) if r.status == "ok" else None)
                                 for r in spread.itertuples()], _share(nation12, "share_sustainable"),
                                f"Förbunden, avslutade {cohort}, 12 månader", what="Andel hållbart självförsörjande"),
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
    """The short version: the indicators as sentences, indicator 11, women and men, the trend."""
    statements = []
    for section in national["sections"]:
        for group in section["groups"]:
            share = _share(group["cells"]["T"])
            if share is not None:
                statements.append({"id": section["id"], "title": section["title"], "group": group["name"],
                                   "share": share, "women": _share(group["cells"]["K"]),
                                   "men": _share(group["cells"]["M"])})
    statements.sort(key=lambda r: -r["share"])
    both = [s for s in statements if s["women"] is not None and s["men"] is not None]
    women_higher = sum(1 for s in both if s["women"] - s["men"] > 0.02)
    men_higher = sum(1 for s in both if s["men"] - s["women"] > 0.02)
    return {
        **national,
        "statements": statements,
        "top": statements[:3],
        "bottom": statements[-3:][::-1] if len(statements) > 3 else [],
        "women_higher": women_higher,
        "men_higher": men_higher,
        "similar": len(both) - women_higher - men_higher,
        "participants": [s for s in sorted(statements, key=lambda r: r["id"])
                         if s["group"].lower().startswith("deltagare")
                         and s["title"].startswith("Deltagarna upplever att ")],
        "trend_sentence": next((s for s in national["summary"] if s.startswith("Sedan serierna")), ""),
    }


def federation_context(db: ReportData, period: str, federation_code: str, name: str, common: dict) -> dict:
    """`common`: group_names, threshold, today and the national indicator 11 values."""
    results = db.federation_results(period, federation_code)
    names = common["group_names"]
    periods = db.periods()
    table = []
    indicators = []
    for (indicator_id, group), rows in results.groupby(["indicator_id", "respondent_group"], sort=True):
        cells = {g: _value(rows, gender=g) for g in GENDERS}
        own, nation = _share(cells["T"]), _none(cells["T"]["national_positive_share"]) if cells["T"] else None
        group_name = names.get(group, group)
        trend = db.federation_trend(federation_code, int(indicator_id), group)
        series = {name_: [(r.period, _none(r.positive_share)) for r in trend[trend.is_nation == is_nation]
                          .itertuples()] for name_, is_nation in ((common_name(name), False), ("Riket", True))}
        table.append({"indicator_id": int(indicator_id), "title": rows.indicator_title.iloc[0], "group": group_name,
                      "cells": cells, "nation": nation, "differs": _differs(cells["T"]),
                      "difference": None if own is None or nation is None else own - nation,
                      "gender_differs": {g: _differs(cells[g]) for g in ("K", "M")}})
        indicators.append({"id": int(indicator_id), "title": rows.indicator_title.iloc[0], "group": group_name,
                           "trend": charts.trend(series, periods, f"Indikator {indicator_id}, {group_name.lower()}",
                                                 height=2.2, colours={common_name(name): charts.COLOURS["own"],
                                                          "Riket": charts.COLOURS["nation"]})})
    comparison = charts.comparison(
        [(f"{r['indicator_id']}. {r['group']}", _share(r["cells"]["T"]), _share(r["cells"]["T"], "ci_low"),
          _share(r["cells"]["T"], "ci_high"), r["nation"]) for r in table],
        f"Andel positiva svar {period}", common_name(name)) if table else None
    registers = None
    if common.get("cohort"):
        own = db.indicator11_federations(common["cohort"], federation_code)
        registers = {"cohort": common["cohort"],
                     "rows": [{"cohort": int(r.cohort_year), "months": int(r.followup_months),
                               "own": None if r.status != "ok" else _none(r.share_sustainable),
                               "own_self": None if r.status != "ok" else _none(r.share_self_supporting),
                               "n": None if r.status != "ok" else r.n_observed,
                               "nation": common["nation_i11"].get((int(r.cohort_year), int(r.followup_months)))}
                              for r in own.itertuples()]}
    return {
        "registers": registers,
        "no_registers": None if registers else NO_REGISTERS,
        "period": period,
        "threshold": common["threshold"],
        "method": common["method"],
        "today": common["today"],
        "federation_code": federation_code,
        "federation_name": name,
        "short_name": common_name(name),
        "has_data": len(results) > 0,
        "collection": db.federation_collection(period, federation_code).to_dict("records"),
        "comparison": comparison if len(table) else None,
        "indicators": indicators,
        "table": table,
        "above": [r for r in table if r["differs"] > 0],
        "below": [r for r in table if r["differs"] < 0],
        "hidden": int((results.status != "ok").sum()),
    }


def common_name(name: str) -> str:
    """'Samordningsförbundet Gotland' -> 'Gotland' (short enough for a legend)."""
    return name.removeprefix("Samordningsförbundet ").removeprefix("Finsam ") or name


def _write(path: Path, html: str, pdf: bool) -> None:
    """Write HTML (and its PDF) atomically."""
    atomic_write_text(path, html, mode=0o644)
    if pdf:
        with staged_file(path.with_suffix(".pdf"), mode=0o644) as staged:
            write_pdf(html, str(path.parent), staged)


def _federation_reports(published: Path, out: Path, period: str, rows: list[tuple[str, str]], common: dict,
                        pdf: bool) -> int:
    """One job's federation reports (it opens its own read-only connection)."""
    db = ReportData.open(published)
    template = _environment().get_template("federation.html.j2")
    try:
        for code, name in rows:
            context = federation_context(db, period, code, name, common)
            _write(out / "forbund" / f"{code}-{period.replace('/', '-')}.html", template.render(**context), pdf)
    finally:
        db.close()
    return len(rows)


def _national_reports(published: Path, out: Path, period: str, pdf: bool) -> int:
    """The national report and its popular version, as one job; returns the documents written."""
    db = ReportData.open(published)
    try:
        env = _environment()
        slug = period.replace("/", "-") if period else "register"
        national = national_context(db, period)
        _write(out / f"nationell-rapport-{slug}.html", env.get_template("national.html.j2").render(**national), pdf)
        _write(out / f"kortversion-{slug}.html",
               env.get_template("popular.html.j2").render(**popular_context(national)), pdf)
    finally:
        db.close()
    return 2  # documents written


def _common(db: ReportData) -> dict:
    """What the federation reports share with the national one, read without drawing
    anything, so that every report can start at once."""
    common = {"group_names": _group_names(db), "threshold": db.threshold(), "method": db.method(),
              "today": swedish_date(date.today())}
    cohort = db.indicator11_cohort() if db.has_registers() else None
    if cohort is not None:
        national = db.indicator11_national()
        common["cohort"] = int(cohort)
        common["nation_i11"] = {(int(year), months): _none(row["share_sustainable"])
                                for year in sorted(national.cohort_year.unique()) for months in db.followups()
                                if (row := _value(national, cohort_year=year, followup_months=months, gender="T"))}
    return common


FEDERATIONS_PER_JOB = 4
MANIFEST = "manifest.json"

# What each report reads from the published database (report.data's queries), for its key.
# A federation's report: its own rows and the nation's in these tables (every period: the
# trends), the catalogue tables, the threshold and the list of periods.
FEDERATION_TABLES = ("indicator_results", "indicator_trends", "collection_status", "indicator11_outcomes",
                     "federations")
CATALOGUE_TABLES = ("indicators", "questions", "insatser", "support_categories")
# The national report and its popular version: these rows ($period: the latest period).
# It ranks the federations in the latest period and draws the nation's trends.
NATIONAL_ROWS = {
    "indicator_results": "period = $period or federation_code = $nation",
    "indicator_trends": "federation_code = $nation",
    "collection_status": "period = $period",
    "collection_summary": None,
    "federations": None,
    "indicator11_outcomes": None,
    "gender_analysis": "federation_code = $nation",
    "support_transitions": None,
}


def _digest(db: PublishedDatabase, table: str, where: str | None = None, period: str | None = None,
            by_federation: bool = False):
    """md5 of the rows (each as text, in order) of `table`, all or `where`; per federation if asked."""
    rows = "md5(string_agg(t::varchar, chr(10) order by t::varchar))"
    if by_federation:
        return dict(db.query(f"select federation_code, {rows} from {table} t group by all"))
    sql = f"select {rows} from {table} t" + (f" where {where}" if where else "")
    parameters = {k: v for k, v in (("period", period), ("nation", NATION)) if f"${k}" in sql}
    return db.query(sql, parameters)[0][0]


def code_fingerprint() -> str:
    """The report code and templates: a change rewrites every report."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("*.py"), *TEMPLATES.rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def report_keys(published: Path, period: str | None, codes: list[str], pdf: bool) -> dict[str, str]:
    """{report name: key} for the national report (with its popular version) and each federation's.

    A key hashes the rows the report reads from the published database (NATIONAL_ROWS for
    the national report; the federation's and the nation's rows of FEDERATION_TABLES for a
    federation's), the catalogue tables, the threshold, the periods, the report code and
    whether PDFs are written. The date printed in a report is not part of it."""
    db = PublishedDatabase.open(published)
    try:
        common = repr((code_fingerprint(), pdf, period, db.query(
            "select disclosure_threshold, (select list(distinct period order by period) from indicator_results) "
            "from publication")[0], [_digest(db, t) for t in CATALOGUE_TABLES]))
        national = [_digest(db, t, where, period) for t, where in NATIONAL_ROWS.items()]
        by_federation = {t: _digest(db, t, by_federation=True) for t in FEDERATION_TABLES}
    finally:
        db.close()

    def key(*parts) -> str:
        return hashlib.sha256(repr((common, *parts)).encode()).hexdigest()

    keys = {_national_name(period): key(national)}
    for code in codes:
        keys[_federation_name(code, period)] = key(code, [(rows.get(code), rows.get(NATION))
                                                          for rows in by_federation.values()])
    return keys


def _national_name(period: str | None) -> str:
    return f"nationell-rapport-{period.replace('/', '-') if period else 'register'}"


def _federation_name(code: str, period: str) -> str:
    return f"forbund/{code}-{period.replace('/', '-')}"


def _files(name: str, pdf: bool) -> list[str]:
    names = [name] + ([name.replace("nationell-rapport-", "kortversion-")] if name.startswith("nationell-") else [])
    return [f"{n}.{suffix}" for n in names for suffix in (("html", "pdf") if pdf else ("html",))]


def read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def build_reports(settings: Settings, *, federations: list[str] | None = None, pdf: bool = True,
                  workers: int = 2, progress: Callable[[int, int], None] | None = None,
                  rewrite_all: bool = False) -> Path:
    """Write publish/report/: national report, popular version, one report per federation.

    Only the reports whose key (`report_keys`: a hash of the rows each reads) changed since
    they were written, or whose files are missing; every one with `rewrite_all`. The keys
    are kept in publish/report/manifest.json, with what the last run wrote and kept.

    The national report (the largest job) and small batches of federation reports
    are jobs for a pool of `workers` processes, national first, so both cores
    stay busy until the last report. `progress(done, total)` is called as
    documents are finished (the CLI draws a bar with it)."""
    published = settings.published_database
    out = settings.reports
    report_progress = progress or (lambda done, total: None)
    db = ReportData.open(published)
    try:
        period = db.latest_period()
        chosen = db.participation(period)
        if federations is not None:
            chosen = chosen[chosen.federation_code.isin(federations)]
        common = _common(db)
    finally:
        db.close()  # before the pool forks
    rows = list(zip(chosen.federation_code, chosen.federation_name, strict=True))
    keys = report_keys(published, period, [code for code, _ in rows], pdf)
    manifest = read_manifest(out)
    reports = manifest.get("reports", {})

    def stale(name: str) -> bool:
        return (rewrite_all or reports.get(name, {}).get("key") != keys[name]
                or not all((out / f).exists() for f in _files(name, pdf)))

    national = _national_name(period)
    rewrite = [national] if stale(national) else []
    rows = [(code, name) for code, name in rows if stale(_federation_name(code, period))]
    rewrite += [_federation_name(code, period) for code, _ in rows]
    total = 2 * (national in rewrite) + len(rows)
    jobs = [(_national_reports, (published, out, period, pdf))] if national in rewrite else []
    jobs += [(_federation_reports, (published, out, period, rows[i:i + FEDERATIONS_PER_JOB], common, pdf))
             for i in range(0, len(rows), FEDERATIONS_PER_JOB)]
    documents = 0
    # A Celery worker's task process is daemonic and may not start children: work in turn there.
    if workers > 1 and len(jobs) > 1 and not multiprocessing.current_process().daemon:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            for future in as_completed([pool.submit(job, *args) for job, args in jobs]):
                documents += future.result()
                report_progress(documents, total)
    else:
        for job, args in jobs:
            documents += job(*args)
            report_progress(documents, total)
    # Written only when every job finished: a report whose job failed is written again next time.
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for name in rewrite:
        reports[name] = {"key": keys[name], "written_at": now}
    kept = sorted(set(keys) - set(rewrite))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MANIFEST, {"reports": reports, "last_run": {
        "at": now, "period": period, "written": rewrite, "kept": kept}})
    log.info("Reports for %s in %s: %d rewritten, %d unchanged and kept", period, out, len(rewrite), len(kept))
    return out
