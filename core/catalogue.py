"""The indicator catalogue, read from the CSV seeds that dbt also loads.

Nothing about questions, groups, federations or windows is hard-coded in Python:
NNS edits the CSV files in dbt_project/seeds/ and the ingest contract, the
template and the marts follow.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

# The federation code of the nation as a whole, in every published table (also in dbt's SQL).
NATION = "RIKET"
PERIOD_RE = re.compile(r"^(\d{4})[/-](\d{2})$")


def parse_period(text: str) -> str | None:
    """'2025/26' or '2025-26' -> '2025/26'; anything else -> None."""
    m = PERIOD_RE.match(str(text).strip())
    if not m:
        return None
    first, second = int(m.group(1)), int(m.group(2))
    if (first + 1) % 100 != second:
        return None
    return f"{first}/{second:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    """A mätperiod runs 1 November to 31 October."""
    first = int(period[:4])
    return date(first, 11, 1), date(first + 1, 10, 31)


def period_of(day: date) -> str:
    first = day.year if day.month >= 11 else day.year - 1
    return f"{first}/{(first + 1) % 100:02d}"


def in_validity(period: str, valid_from: str, valid_to: str | None) -> bool:
    # Period labels sort chronologically as strings ('2019/20' < '2020/21').
    return valid_from <= period and (not valid_to or period <= valid_to)


@dataclass(frozen=True)
class Question:
    code: str
    group: str
    indicator_id: int
    text: str
    scale_id: str
    comparability_key: str
    valid_from: str
    valid_to: str | None


@dataclass(frozen=True)
class Group:
    code: str
    sheet_name: str
    name: str
    asks_age_group: bool
    asks_insats: bool
    valid_from: str
    valid_to: str | None


@dataclass(frozen=True)
class Federation:
    code: str
    name: str
    lan: str
    valid_from: str
    valid_to: str | None
    successor_code: str | None


@dataclass(frozen=True)
class Window:
    period: str
    name: str
    opens_on: date
    closes_on: date


@dataclass(frozen=True)
class ScaleStep:
    value: int | None
    label: str
    is_missing: bool
    is_positive: bool


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def _bool(text: str) -> bool:
    return text.lower() in {"true", "1", "ja", "yes"}


@dataclass(frozen=True)
class Catalogue:
    questions: tuple[Question, ...]
    groups: tuple[Group, ...]
    federations: tuple[Federation, ...]
    windows: tuple[Window, ...]
    scales: dict[str, tuple[ScaleStep, ...]]
    background: dict[str, tuple[tuple[str, str], ...]]  # variable -> ((code, label), ...)
    support_categories: tuple[str, ...]  # register codes for försörjning
    end_reasons: tuple[str, ...]  # register codes for avslutsorsak

    @classmethod
    def load(cls, directory: Path) -> Catalogue:
        scales: dict[str, list[ScaleStep]] = {}
        for r in _rows(directory / "answer_scales.csv"):
            scales.setdefault(r["scale_id"], []).append(
                ScaleStep(
                    value=int(r["answer_value"]) if r["answer_value"] else None,
                    label=r["label_sv"],
                    is_missing=_bool(r["is_missing"]),
                    is_positive=_bool(r["is_positive"]),
                )
            )
        background: dict[str, list[tuple[str, str]]] = {}
        for r in sorted(_rows(directory / "background_codes.csv"), key=lambda r: int(r["sort_order"])):
            background.setdefault(r["variable"], []).append((r["code"], r["label_sv"]))
        return cls(
            questions=tuple(
                Question(
                    code=r["question_code"],
                    group=r["respondent_group"],
                    indicator_id=int(r["indicator_id"]),
                    text=r["question_sv"],
                    scale_id=r["scale_id"],
                    comparability_key=r["comparability_key"],
                    valid_from=r["valid_from"],
                    valid_to=r["valid_to"] or None,
                )
                for r in _rows(directory / "questions.csv")
            ),
            groups=tuple(
                Group(
                    code=r["respondent_group"],
                    sheet_name=r["sheet_name"],
                    name=r["name_sv"],
                    asks_age_group=_bool(r["asks_age_group"]),
                    asks_insats=_bool(r["asks_insats"]),
                    valid_from=r["valid_from"],
                    valid_to=r["valid_to"] or None,
                )
                for r in _rows(directory / "respondent_groups.csv")
            ),
            federations=tuple(
                Federation(
                    code=r["federation_code"],
                    name=r["federation_name"],
                    lan=r["lan"],
                    valid_from=r["valid_from"],
                    valid_to=r["valid_to"] or None,
                    successor_code=r["successor_code"] or None,
                )
                for r in _rows(directory / "federations.csv")
            ),
            windows=tuple(
                Window(
                    period=r["period"],
                    name=r["window"],
                    opens_on=date.fromisoformat(r["opens_on"]),
                    closes_on=date.fromisoformat(r["closes_on"]),
                )
                for r in _rows(directory / "collection_calendar.csv")
            ),
            scales={k: tuple(v) for k, v in scales.items()},
            background={k: tuple(v) for k, v in background.items()},
            # `okänd` (support class okand) only appears in support_transitions, for an empty
            # forsorjning_slut; it is never a code an extract may write.
            support_categories=tuple(r["category"] for r in _rows(directory / "support_categories.csv")
                                     if r["support_class"] != "okand"),
            end_reasons=tuple(r["end_reason"] for r in _rows(directory / "end_reasons.csv")),
        )

    # --- look-ups used by the contract, the template and the generator ---

    def federation(self, code: str) -> Federation | None:
        return next((f for f in self.federations if f.code == code), None)

    def federations_in(self, period: str) -> list[Federation]:
        return [f for f in self.federations if in_validity(period, f.valid_from, f.valid_to)]

    def groups_in(self, period: str) -> list[Group]:
        return [g for g in self.groups if in_validity(period, g.valid_from, g.valid_to)]

    def group_by_sheet(self, sheet_name: str) -> Group | None:
        key = sheet_name.strip().casefold()
        return next((g for g in self.groups if g.sheet_name.casefold() == key), None)

    def questions_for(self, group: str, period: str) -> list[Question]:
        return [
            q for q in self.questions
            if q.group == group and in_validity(period, q.valid_from, q.valid_to)
        ]

    def question(self, code: str) -> Question | None:
        return next((q for q in self.questions if q.code == code), None)

    def open_window(self, day: date) -> Window | None:
        return next((w for w in self.windows if w.opens_on <= day <= w.closes_on), None)

    def codes(self, variable: str) -> list[str]:
        return [code for code, _ in self.background[variable]]


@lru_cache(maxsize=8)
def _load_cached(directory: str, stamp: float) -> Catalogue:
    return Catalogue.load(Path(directory))


def load_catalogue(directory: Path) -> Catalogue:
    """Cached per directory and modification time, so a replaced catalogue is re-read."""
    stamp = max(p.stat().st_mtime for p in directory.glob("*.csv"))
    return _load_cached(str(directory), stamp)
