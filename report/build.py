"""Building the reports: the national report, its popular version, and one
feedback report per federation, each as self-contained HTML and as PDF.

Only the published database is read (report.data), so every number in a report
can be found with a query by an analyst, and suppressed cells show as `..`.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.files import atomic_write_text, staged_file
from core.settings import Settings

from . import charts
from .data import Published
from .pdf import write_pdf

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
GROUP_ORDER = ["deltagare", "personal", "styrelse", "chefsgrupp", "medremittent"]
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december"]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def pct(value, decimals: int = 0) -> str:
    """0.7234 -> '72 %' (Swedish: space before %, decimal comma); suppressed -> '..'."""
    if _missing(value):
        return ".."
    return f"{value * 100:.{decimals}f}".replace(".", ",") + "\u00a0%"


def num(value) -> str:
    if _missing(value):
        return ".."
    return f"{int(value):,}".replace(",", "\u202f")


def pp(value) -> str:
    """A difference in percentage points, signed."""
    if _missing(value):
        return ".."
    points = round(value * 100)
    return ("+" if points > 0 else "−" if points < 0 else "±") + f"{abs(points)}"


def swedish_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters.update(pct=pct, num=num, pp=pp)
    env.globals["css"] = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env


def _value(frame: pd.DataFrame, **where):
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.iloc[0].to_dict() if len(rows) else None


def _none(value):
    return None if _missing(value) else value


def _group_names(db: Published) -> dict[str, str]:
    return dict(db.con.execute("select distinct respondent_group, respondent_group_name from questions").fetchall())


def _ordered(groups) -> list[str]:
    return sorted(groups, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else 99)


NO_SURVEYS = "Publiceringen innehåller inga enkätresultat, så rapporten har inga avsnitt om enkäterna."
NO_REGISTERS = ("Publiceringen innehåller ingen fullständig registeruppföljning, så avsnitten om indikator 11 och "
                "Kön spelar roll saknas.")


def national_context(db: Published, period: str | None) -> dict:
    """`period` is None when the publication holds no survey results (registers only)."""
    names = _group_names(db)
    registers = registers_context(db) if db.has_registers() else None
    if period is None:
        return {"registers": registers, "period": None, "periods": [], "threshold": db.threshold(),
                "today": swedish_date(date.today()), "collection": [], "federations_in_period": 0,
                "questionnaires": 0, "volumes_svg": "", "sections": [], "group_names": names,
                "no_surveys": NO_SURVEYS, "no_registers": None if registers else NO_REGISTERS}
    periods = db.periods()
    collection = db.collection(period)
    history = db.collection_history()
    totals = history.groupby("period", sort=True)["questionnaires"].sum()
    sections = []
    for indicator in db.survey_indicators(period).itertuples():
        national = db.national(period, indicator.indicator_id)
        groups = []
        gender_rows = []
        for group in _ordered(indicator.respondent_groups):
            cells = {g: _value(national, respondent_group=group, gender=g) for g in ("K", "M", "T")}
            trend = db.trend(indicator.indicator_id, group)
            series = {}
            for _key, rows in trend.groupby("comparability_key", sort=True):
                label = f"{rows.question_code.iloc[-1]} (från {rows.series_first_period.iloc[0]})"
                series[label] = [(r.period, _none(r.positive_share)) for r in rows.itertuples()]
            spread = db.spread(period, indicator.indicator_id, group)
            shown = spread[spread.status == "ok"]
            shares = [float(s) for s in shown.positive_share]
            groups.append({
                "name": names.get(group, group),
                "cells": cells,
                "unweighted": _none(cells["T"]["federations_mean_share"]) if cells["T"] else None,
                "trend_svg": charts.trend(series, periods, "Utveckling över tid"),
                "spread_svg": charts.spread(shares, _none(cells["T"]["positive_share"]) if cells["T"] else None,
                                            int((spread.status != "ok").sum()),
                                            f"Förbunden {period}"),
                "spread": {"shown": len(shown), "hidden": int((spread.status != "ok").sum()),
                           "low": min(shares) if shares else None, "high": max(shares) if shares else None,
                           "median": float(pd.Series(shares).median()) if shares else None},
                "series_notes": [
                    f"{rows.question_code.iloc[-1]}: {rows.question_text.iloc[-1]}"
                    for _, rows in trend.groupby("comparability_key", sort=True)],
            })
            gender_rows.append((names.get(group, group),
                                _none(cells["K"]["positive_share"]) if cells["K"] else None,
                                _none(cells["M"]["positive_share"]) if cells["M"] else None))
        sections.append({
            "id": indicator.indicator_id,
            "title": indicator.indicator_title,
            "official": bool(indicator.is_official_text),
            "groups": groups,
            "gender_svg": charts.gender(gender_rows, "Kvinnor och män"),
        })
    return {
        "registers": registers,
        "no_surveys": None,
        "no_registers": None if registers else NO_REGISTERS,
        "period": period,
        "periods": periods,
        "threshold": db.threshold(),
        "today": swedish_date(date.today()),
        "collection": collection.to_dict("records"),
        "federations_in_period": int(collection.federations_in_period.max()) if len(collection) else 0,
        "questionnaires": int(collection.questionnaires.sum()),
        "volumes_svg": charts.volumes(list(totals.index), [int(v) for v in totals.values],
                                      "Antal besvarade enkäter per mätperiod"),
        "sections": sections,
        "group_names": names,
    }


FOLLOWUPS = (6, 12, 24)


def registers_context(db: Published) -> dict | None:
    """Indicator 11 and the gender analysis, from the published register marts."""
    cohort = db.indicator11_cohort()
    if cohort is None:
        return None
    labels = db.support_labels()
    national = db.indicator11_national()
    cohorts = sorted(national.cohort_year.unique())
    table = []
    for year in cohorts:
        row = {"cohort": int(year)}
        for months in FOLLOWUPS:
            for gender in ("T", "K", "M"):
                row[f"{months}{gender}"] = _value(national, cohort_year=year, followup_months=months, gender=gender)
        table.append(row)
    series = {f"{m} mån": [(str(y), _none(r["share_sustainable"]) if (r := _value(
        national, cohort_year=y, followup_months=m, gender="T")) else None) for y in cohorts] for m in FOLLOWUPS}
    spread = db.indicator11_federations(cohort)
    spread = spread[(spread.cohort_year == cohort) & (spread.followup_months == 12)]
    shown = spread[spread.status == "ok"]
    nation12 = _value(national, cohort_year=cohort, followup_months=12, gender="T")

    def breakdown(column: str, names: dict | None = None) -> list[dict]:
        frame = db.indicator11_breakdown(cohort, column)
        return [{"label": (names or {}).get(label, label),
                 **{g: _value(rows, gender=g) for g in ("T", "K", "M")}}
                for label, rows in frame.groupby("label", sort=True)]

    by_insats = db.gender_by_insats(cohort)
    gender_rows = []
    for insats, rows in by_insats.groupby("insats", sort=False):
        cells = {g: _value(rows, gender=g) for g in ("T", "K", "M")}
        women, everyone = cells["K"], cells["T"]
        share_women = (women["participants"] / everyone["participants"]
                       if women and everyone and not _missing(women["participants"])
                       and not _missing(everyone["participants"]) and everyone["participants"] else None)
        gender_rows.append({"insats": "Alla insatser" if insats == "alla" else insats, "cells": cells,
                            "share_women": share_women})
    transitions = db.transitions(cohort)
    to_own = []
    for start, rows in transitions.groupby("support_at_start", sort=True):
        entry = {"start": labels.get(start, start)}
        for gender in ("K", "M", "T"):
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
        "table": table,
        "nation12": nation12,
        "trend_svg": charts.trend(series, [str(c) for c in cohorts], "Hållbart självförsörjande per kohort"),
        "spread_svg": charts.spread([float(v) for v in shown.share_sustainable],
                                    _none(nation12["share_sustainable"]) if nation12 else None,
                                    int((spread.status != "ok").sum()),
                                    f"Förbunden, kohort {cohort}, 12 mån"
                                    + (f" (riket {num(nation12['n_observed'])} följda)" if nation12 else "")),
        "spread": {"shown": len(shown), "hidden": int((spread.status != "ok").sum())},
        "by_insats": breakdown("insats"),
        "by_support": breakdown("support_at_start", labels),
        "gender_rows": gender_rows,
        "gender_svg": charts.gender([(r["insats"], _none(r["cells"]["K"]["share_work_or_studies"]) if r["cells"]["K"]
                                      else None, _none(r["cells"]["M"]["share_work_or_studies"]) if r["cells"]["M"]
                                      else None) for r in gender_rows],
                                    f"Andel till arbete eller studier vid avslut, kohort {cohort}"),
        "to_own": to_own,
    }


def popular_context(national: dict) -> dict:
    """The short version: key figures and the indicators at a glance."""
    rows = []
    for section in national["sections"]:
        for group in section["groups"]:
            share = group["cells"]["T"]["positive_share"] if group["cells"]["T"] else None
            rows.append((f"{section['id']}. {group['name']}", _none(share)))
    shown = [r for r in rows if r[1] is not None]
    return {
        **national,
        "overview_svg": charts.bars(rows, "Andel positiva svar per indikator och enkät, riket") if rows else "",
        "highest": max(shown, key=lambda r: r[1]) if shown else None,
        "lowest": min(shown, key=lambda r: r[1]) if shown else None,
    }


def federation_context(db: Published, period: str, federation_code: str, name: str, common: dict) -> dict:
    """`common`: group_names, threshold and today, shared with the national report."""
    results = db.federation_results(period, federation_code)
    names = common["group_names"]
    totals = results[results.gender == "T"]
    comparison_rows = [(f"{r.indicator_id}. {names.get(r.respondent_group, r.respondent_group)}",
                        _none(r.positive_share), _none(r.national_positive_share)) for r in totals.itertuples()]
    table = []
    for (indicator_id, group), rows in results.groupby(["indicator_id", "respondent_group"], sort=True):
        cells = {g: _value(rows, gender=g) for g in ("K", "M", "T")}
        own, nation = cells["T"]["positive_share"], cells["T"]["national_positive_share"]
        table.append({"indicator_id": indicator_id, "title": rows.indicator_title.iloc[0],
                      "group": names.get(group, group), "cells": cells,
                      "difference": None if _missing(own) or _missing(nation) else own - nation})
    registers = None
    if common.get("cohort"):
        own = db.indicator11_federations(common["cohort"], federation_code)
        registers = {"cohort": common["cohort"],
                     "rows": [{"cohort": int(r.cohort_year), "months": int(r.followup_months),
                               "own": None if r.status != "ok" else r.share_sustainable,
                               "own_self": None if r.status != "ok" else r.share_self_supporting,
                               "n": None if r.status != "ok" else r.n_observed,
                               "nation": common["nation_i11"].get((int(r.cohort_year), int(r.followup_months)))}
                              for r in own.itertuples()]}
    return {
        "registers": registers,
        "no_registers": None if registers else NO_REGISTERS,
        "period": period,
        "threshold": common["threshold"],
        "today": common["today"],
        "federation_code": federation_code,
        "federation_name": name,
        "collection": db.federation_collection(period, federation_code).to_dict("records"),
        "comparison_svg": charts.comparison(comparison_rows, f"Andel positiva svar {period}", federation_code),
        "table": table,
        "hidden": int((results.status != "ok").sum()),
    }


def _write(path: Path, html: str, pdf: bool) -> None:
    """Write HTML (and its PDF) atomically."""
    atomic_write_text(path, html, mode=0o644)
    if pdf:
        with staged_file(path.with_suffix(".pdf"), mode=0o644) as staged:
            write_pdf(html, str(path.parent), staged)


def _federation_reports(published: Path, out: Path, period: str, rows: list[tuple[str, str]], common: dict,
                        pdf: bool) -> int:
    """One job's federation reports (it opens its own read-only connection)."""
    db = Published.open(published)
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
    db = Published.open(published)
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


def _common(db: Published) -> dict:
    """What the federation reports share with the national one, read without drawing
    anything, so that every report can start at once."""
    common = {"group_names": _group_names(db), "threshold": db.threshold(), "today": swedish_date(date.today())}
    cohort = db.indicator11_cohort() if db.has_registers() else None
    if cohort is not None:
        national = db.indicator11_national()
        common["cohort"] = int(cohort)
        common["nation_i11"] = {(int(year), months): _none(row["share_sustainable"])
                                for year in sorted(national.cohort_year.unique()) for months in FOLLOWUPS
                                if (row := _value(national, cohort_year=year, followup_months=months, gender="T"))}
    return common


FEDERATIONS_PER_JOB = 4


def build_reports(settings: Settings, *, federations: list[str] | None = None, pdf: bool = True,
                  workers: int = 2, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write publish/report/: national report, popular version, one report per federation.

    The national report (the largest job) and small batches of federation reports
    are jobs for a pool of `workers` processes, national first, so both cores
    stay busy until the last report. `progress(done, total)` is called as
    documents are finished (the CLI draws a bar with it)."""
    published = settings.publish / "marts.duckdb"
    out = settings.publish / "report"
    report_progress = progress or (lambda done, total: None)
    db = Published.open(published)
    try:
        period = db.latest_period()
        chosen = db.federations_in(period)
        if federations is not None:
            chosen = chosen[chosen.federation_code.isin(federations)]
        common = _common(db)
    finally:
        db.close()  # before the pool forks
    rows = list(zip(chosen.federation_code, chosen.federation_name, strict=True))
    total = 2 + len(rows)
    jobs = [(_national_reports, (published, out, period, pdf))]
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
    log.info("Reports for %s written to %s (%d federations)", period, out, len(rows))
    return out
