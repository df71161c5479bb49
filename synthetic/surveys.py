"""Synthetic survey submissions with the structure of the real collection.

More women than men among participants, small boards, answers skewed positive
with some "Vet ej", federation and period effects (the two staff questions on
being listened to drop sharply one year), federations that skip a year, the
Göteborg merger, CSV senders in both encodings, and resubmissions that replace
an earlier file (some of which were rejected).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from core.catalogue import Catalogue, Group, period_bounds
from ingest.template import Respondent, SubmissionContent, group_columns, respondent_cells, write_workbook

from .profiles import Profile

GROUP_SIZE = {"deltagare": 0.50, "personal": 0.20, "styrelse": 0.06, "chefsgrupp": 0.09, "medremittent": 0.15}
WOMEN_SHARE = {"deltagare": 0.61, "personal": 0.75, "styrelse": 0.55, "chefsgrupp": 0.65, "medremittent": 0.70}
INSATSER = ("STEG1", "AKTIV", "IPS", "TIDIG", "KOMBO", "UNGA", "NAVET")
AGE_WEIGHTS = (0.22, 0.40, 0.28, 0.10)
DROP_YEAR = "2021/22"  # the staff questions on being listened to fell sharply nationally
DROP_QUESTIONS = {"P02", "P03"}


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent stream per (seed, keys): stable whatever the loop order."""
    digest = hashlib.sha256("|".join([str(seed), *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _labels(catalogue: Catalogue, variable: str) -> list[str]:
    return [label for _, label in catalogue.background[variable]]


def _respondents(rng: np.random.Generator, group: Group, n: int, period: str, period_index: int,
                 federation_effect: float, insatser: list[str], catalogue: Catalogue,
                 question_effects: dict[str, float], answered_by: date) -> list[Respondent]:
    start, end = period_bounds(period)
    last_day = min(end, answered_by)
    span = (last_day - start).days
    kon = _labels(catalogue, "kon")
    ages = [code for code, _ in catalogue.background["aldersgrupp"]]
    questions = catalogue.questions_for(group.code, period)
    women = WOMEN_SHARE[group.code]
    rows = []
    for serial in range(1, n + 1):
        person = rng.normal(0, 0.7)
        gender = rng.choice(kon, p=[women, 0.98 - women, 0.02])
        answers: dict[str, int | str | None] = {}
        for q in questions:
            roll = rng.random()
            if roll < 0.04:
                answers[q.code] = "Vet ej"
            elif roll < 0.06:
                answers[q.code] = None
            else:
                latent = (4.2 + federation_effect + question_effects[q.code] + 0.05 * period_index
                          + person + rng.normal(0, 0.9))
                if q.code in DROP_QUESTIONS and period == DROP_YEAR:
                    latent -= 1.0
                answers[q.code] = int(np.clip(round(latent), 1, 6))
        rows.append(Respondent(
            serial=serial,
            answered_on=start + timedelta(days=int(rng.integers(0, span + 1))),
            gender=None if rng.random() < 0.01 else str(gender),
            answers=answers,
            age_group=str(rng.choice(ages, p=AGE_WEIGHTS)) if group.asks_age_group else None,
            insats=str(rng.choice(insatser)) if group.asks_insats else None,
        ))
    return rows


def _content(rng: np.random.Generator, federation_code: str, period: str, period_index: int,
             profile: Profile, catalogue: Catalogue, federation_effect: float, size: float,
             insatser: list[str], question_effects: dict[str, float], answered_by: date) -> SubmissionContent:
    content = SubmissionContent(federation_code, period, contact="Indikatorsamordnare")
    for group in catalogue.groups_in(period):
        expected = profile.questionnaires_per_federation * GROUP_SIZE[group.code] * size
        # Boards are small: disclosure control matters.
        n = int(rng.integers(5, 10)) if group.code == "styrelse" else max(1, int(rng.poisson(expected)))
        content.respondents[group.code] = _respondents(
            rng, group, n, period, period_index, federation_effect, insatser, catalogue,
            question_effects, answered_by)
        rate = rng.uniform(0.75, 1.0) if group.code == "styrelse" else rng.uniform(0.45, 0.9)
        content.collection[group.code] = (int(round(n / rate)), n)
    return content


def _write_csv_files(out: Path, stem: str, content: SubmissionContent, catalogue: Catalogue,
                     encoding: str, mtime: float) -> list[Path]:
    paths = []
    sheets: dict[str, list[list]] = {"Insamling": [["Enkät", "Antal tillfrågade", "Antal besvarade"]]}
    for group in catalogue.groups_in(content.period):
        if group.code in content.collection:
            asked, answered = content.collection[group.code]
            sheets["Insamling"].append([group.sheet_name, asked, answered])
        rows = content.respondents.get(group.code)
        if rows:
            sheets[group.sheet_name] = [group_columns(group, catalogue, content.period)] + [
                respondent_cells(r, group, catalogue, content.period) for r in rows]
    fed, per, *rest = stem.split("_")
    suffix = "".join(f"_{r}" for r in rest)
    for sheet, rows in sheets.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        for row in rows:
            writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row])
        path = out / f"{fed}_{per}_{sheet}{suffix}.csv"
        path.write_bytes(buffer.getvalue().encode(encoding))
        os.utime(path, (mtime, mtime))
        paths.append(path)
    return paths


def _spoil(content: SubmissionContent, rng: np.random.Generator) -> None:
    """A typical mistake that gets a first file rejected: an answer out of range."""
    group = next(g for g in ("deltagare", "personal") if content.respondents.get(g))
    row = content.respondents[group][int(rng.integers(0, len(content.respondents[group])))]
    code = next(iter(row.answers))
    row.answers[code] = 7


def write_survey_submissions(out: Path, profile: Profile, catalogue: Catalogue, seed: int,
                             progress: Callable[[int, int], None] | None = None) -> dict:
    """Write every period's submissions; `progress(done, total)` after each period × federation."""
    out.mkdir(parents=True, exist_ok=True)
    codes = profile.federation_codes or tuple(f.code for f in catalogue.federations)
    total, done = len(profile.periods) * len(codes), 0
    question_effects = {q.code: float(_rng(seed, "question", q.code).normal(0, 0.25)) for q in catalogue.questions}
    written = {"files": 0, "submissions": 0, "questionnaires": 0, "resubmissions": 0, "rejected_first": 0}
    for period_index, period in enumerate(profile.periods):
        windows = [w for w in catalogue.windows if w.period == period]
        main_window = windows[-1]
        for code in codes:
            done += 1
            if progress:
                progress(done, total)
            federation = catalogue.federation(code)
            if federation is None or federation not in catalogue.federations_in(period):
                continue
            fed_rng = _rng(seed, "federation", code)
            federation_effect = float(fed_rng.normal(0, 0.35))
            size = float(np.clip(fed_rng.lognormal(0, 0.35), 0.4, 2.5))
            insatser = list(fed_rng.choice(INSATSER, size=int(fed_rng.integers(2, 5)), replace=False))
            csv_encoding = ("utf-8", "utf-8-sig", "cp1252")[int(fed_rng.integers(0, 3))]

            rng = _rng(seed, "submission", code, period)
            if rng.random() < profile.skip_rate:
                continue
            sent = datetime.combine(main_window.opens_on, datetime.min.time()) + timedelta(
                days=int(rng.integers(0, 30)), hours=int(rng.integers(8, 17)))
            content = _content(rng, code, period, period_index, profile, catalogue, federation_effect,
                               size, insatser, question_effects, answered_by=sent.date())
            as_csv = rng.random() < profile.csv_share
            roll = rng.random()
            versions: list[tuple[str, SubmissionContent]] = []
            stem = f"{code}_{period.replace('/', '-')}"
            if roll < profile.resubmission_rate:
                first = SubmissionContent(code, period, contact=content.contact,
                                          respondents={g: rows[: max(1, int(len(rows) * 0.8))]
                                                       for g, rows in content.respondents.items()},
                                          collection=dict(content.collection))
                versions = [(stem, first), (f"{stem}_v2", content)]
                written["resubmissions"] += 1
            elif roll < profile.resubmission_rate + profile.rejected_first_rate:
                first = _copy_content(content)
                _spoil(first, rng)
                versions = [(stem, first), (f"{stem}_v2", content)]
                written["rejected_first"] += 1
            else:
                versions = [(stem, content)]

            for i, (name, version) in enumerate(versions):
                mtime = (sent + timedelta(days=3 * i)).timestamp()
                if as_csv:
                    written["files"] += len(_write_csv_files(out, name, version, catalogue, csv_encoding, mtime))
                else:
                    path = out / f"{name}.xlsx"
                    write_workbook(path, version, catalogue, with_guidance=False,
                                   created=datetime(2026, 1, 1))
                    os.utime(path, (mtime, mtime))
                    written["files"] += 1
                written["submissions"] += 1
            written["questionnaires"] += sum(len(r) for r in content.respondents.values())
    return written


def _copy_content(content: SubmissionContent) -> SubmissionContent:
    return SubmissionContent(
        content.federation_code, content.period, contact=content.contact,
        respondents={g: [Respondent(r.serial, r.answered_on, r.gender, dict(r.answers), r.age_group, r.insats)
                         for r in rows] for g, rows in content.respondents.items()},
        collection=dict(content.collection),
    )


def write_resubmission(out: Path, profile: Profile, catalogue: Catalogue, federation_code: str, period: str,
                       seed: int, *, suffix: str = "ny") -> Path:
    """One new, valid workbook for a federation and period, as a federation sends
    during a window (the benchmark's nightly increment): it supersedes the earlier file."""
    period_index = list(profile.periods).index(period) if period in profile.periods else 0
    fed_rng = _rng(seed, "federation", federation_code)
    federation_effect = float(fed_rng.normal(0, 0.35))
    size = float(np.clip(fed_rng.lognormal(0, 0.35), 0.4, 2.5))
    insatser = list(fed_rng.choice(INSATSER, size=int(fed_rng.integers(2, 5)), replace=False))
    question_effects = {q.code: float(_rng(seed, "question", q.code).normal(0, 0.25)) for q in catalogue.questions}
    rng = _rng(seed, "resubmission", federation_code, period, suffix)
    _, end = period_bounds(period)
    content = _content(rng, federation_code, period, period_index, profile, catalogue, federation_effect,
                       size, insatser, question_effects, answered_by=end)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{federation_code}_{period.replace('/', '-')}_{suffix}.xlsx"
    write_workbook(path, content, catalogue, with_guidance=False, created=datetime(2026, 1, 1))
    return path
