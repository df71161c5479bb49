"""Writing the submission workbook ("inmatningsfil").

One writer serves both the empty template a federation fills in (`nns template`)
and the synthetic submissions the generator writes, so the two cannot drift
apart. Sheet and column names come from ingest.contract, the questions and
codes from the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

import xlsxwriter

from core.catalogue import Catalogue, Group, period_bounds
from ingest.contract import (
    AGE_GROUP,
    ANSWERED_ON,
    COLLECTION_COLUMNS,
    COLLECTION_SHEET,
    GENDER,
    INSATS,
    METADATA_SHEET,
    SERIAL,
)

TEMPLATE_ROWS = 2000  # rows carrying drop-down validation in each questionnaire sheet


@dataclass
class Respondent:
    serial: int | str
    answered_on: date | str | None
    gender: str | None  # a label as the user picks it, e.g. "Kvinna"
    answers: dict[str, int | str | None]
    age_group: str | None = None
    insats: str | None = None


@dataclass
class SubmissionContent:
    federation_code: str
    period: str
    respondents: dict[str, list[Respondent]] = field(default_factory=dict)  # group code -> rows
    collection: dict[str, tuple[int, int]] = field(default_factory=dict)  # group code -> (asked, answered)
    contact: str = ""


def group_columns(group: Group, catalogue: Catalogue, period: str) -> list[str]:
    columns = [SERIAL, ANSWERED_ON, GENDER]
    columns += [AGE_GROUP] if group.asks_age_group else []
    columns += [INSATS] if group.asks_insats else []
    return columns + [q.code for q in catalogue.questions_for(group.code, period)]


def respondent_cells(r: Respondent, group: Group, catalogue: Catalogue, period: str) -> list:
    cells = [r.serial, r.answered_on, r.gender]
    cells += [r.age_group] if group.asks_age_group else []
    cells += [r.insats] if group.asks_insats else []
    return cells + [r.answers.get(q.code) for q in catalogue.questions_for(group.code, period)]


def write_workbook(path: Path | BinaryIO, content: SubmissionContent, catalogue: Catalogue, *,
                   with_guidance: bool = True, created: datetime | None = None,
                   edit: Callable[[xlsxwriter.Workbook, dict], None] | None = None) -> None:
    """Write a workbook; with_guidance adds instructions, question texts and drop-downs.
    A fixed `created` time makes the bytes reproducible. `edit(workbook, sheets by name)`
    runs before the file is closed (the bad-input corpus uses it to break a file on purpose). `path` may
    be a binary stream (io.BytesIO): the workbook is then built in memory, with no temporary files (the
    check service serves templates so)."""
    period = content.period
    groups = catalogue.groups_in(period)
    federation = catalogue.federation(content.federation_code)
    in_memory = not isinstance(path, str | Path)
    wb = xlsxwriter.Workbook(path if in_memory else str(path), {
        "default_date_format": "yyyy-mm-dd", "strings_to_numbers": False, "strings_to_formulas": False,
        "in_memory": in_memory})
    wb.set_properties({"title": f"Inmatningsfil {content.federation_code} {period}",
                       "created": created or datetime.now()})
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})

    if with_guidance:
        _write_instructions(wb, bold, wrap, catalogue, period)

    meta = wb.add_worksheet(METADATA_SHEET)
    meta.write_row(0, 0, ["Fält", "Värde"], bold)
    meta.write_row(1, 0, ["Förbundskod", content.federation_code])
    meta.write_row(2, 0, ["Mätperiod", period])
    meta.write_row(3, 0, ["Förbundets namn", federation.name if federation else ""])
    meta.write_row(4, 0, ["Kontaktperson", content.contact])
    meta.set_column(0, 0, 18)
    meta.set_column(1, 1, 60)

    coll = wb.add_worksheet(COLLECTION_SHEET)
    coll.write_row(0, 0, list(COLLECTION_COLUMNS), bold)
    for i, g in enumerate(groups, start=1):
        coll.write(i, 0, g.sheet_name)
        if g.code in content.collection:
            asked, answered = content.collection[g.code]
            coll.write_number(i, 1, asked)
            coll.write_number(i, 2, answered)
    coll.set_column(0, 2, 20)
    if with_guidance:
        coll.data_validation(1, 1, len(groups), 2, {"validate": "integer", "criteria": ">=", "value": 0,
                                                     "error_message": "Ange ett heltal, 0 eller större."})

    codes_sheet = None
    if with_guidance:
        codes_sheet = wb.add_worksheet("Koder")
        lists = {
            "kon": [label for _, label in catalogue.background["kon"]],
            "aldersgrupp": [code for code, _ in catalogue.background["aldersgrupp"]],
        }
        for col, (name, values) in enumerate(lists.items()):
            codes_sheet.write(0, col, name, bold)
            for row, value in enumerate(values, start=1):
                codes_sheet.write_string(row, col, value)

    start, end = period_bounds(period)
    for g in groups:
        ws = wb.add_worksheet(g.sheet_name)
        columns = group_columns(g, catalogue, period)
        ws.write_row(0, 0, columns, bold)
        ws.freeze_panes(1, 0)
        ws.set_column(0, len(columns) - 1, 12)
        for row_no, r in enumerate(content.respondents.get(g.code, []), start=1):
            for col, value in enumerate(respondent_cells(r, g, catalogue, period)):
                if value is None:
                    continue
                if isinstance(value, date):
                    ws.write_datetime(row_no, col, value, date_fmt)
                elif isinstance(value, (int, float)):
                    ws.write_number(row_no, col, value)
                else:
                    ws.write_string(row_no, col, str(value))
        if with_guidance:
            _add_validation(ws, g, columns, catalogue, period, start, end)
    if edit:
        edit(wb, {ws.get_name(): ws for ws in wb.worksheets()})
    wb.close()


def _add_validation(ws, group: Group, columns: list[str], catalogue: Catalogue, period: str,
                    start: date, end: date) -> None:
    last = TEMPLATE_ROWS
    questions = {q.code: q for q in catalogue.questions_for(group.code, period)}
    n_kon = len(catalogue.background["kon"])
    n_age = len(catalogue.background["aldersgrupp"])
    for col, name in enumerate(columns):
        if name == ANSWERED_ON:
            ws.data_validation(1, col, last, col, {
                "validate": "date", "criteria": "between", "minimum": start, "maximum": end,
                "error_message": f"Datum inom mätperioden {period} ({start}–{end})."})
        elif name == GENDER:
            ws.data_validation(1, col, last, col, {"validate": "list", "source": f"=Koder!$A$2:$A${n_kon + 1}"})
        elif name == AGE_GROUP:
            ws.data_validation(1, col, last, col, {"validate": "list", "source": f"=Koder!$B$2:$B${n_age + 1}"})
        elif name in questions:
            q = questions[name]
            steps = catalogue.scales[q.scale_id]
            options = [str(s.value) for s in steps if s.value is not None]
            options += [s.label for s in steps if s.is_missing and "/" not in s.label]
            ws.data_validation(1, col, last, col, {
                "validate": "list", "source": options,
                "error_message": "Välj ett svarsalternativ i listan, eller lämna cellen tom."})
            ws.write_comment(0, col, f"{q.code}: {q.text}", {"x_scale": 2.5, "y_scale": 1.5})


def _write_instructions(wb, bold, wrap, catalogue: Catalogue, period: str) -> None:
    ws = wb.add_worksheet("Anvisningar")
    ws.set_column(0, 0, 110)
    scale = catalogue.scales["frekvens6"]
    lines = [
        f"Inmatningsfil för indikatorarbetet, mätperiod {period}",
        "",
        "1. Fyll i en rad per besvarad enkät på bladet för respektive enkät (Deltagare, Personal, ...).",
        "2. Löpnummer: ett unikt nummer per enkät inom bladet. Datum: dagen enkäten besvarades (ÅÅÅÅ-MM-DD).",
        "3. Svar: " + ", ".join(f"{s.value} = {s.label}" for s in scale if s.value is not None)
        + ". Vet ej / Ej aktuellt eller tom cell räknas som ej svar.",
        "4. Fyll i antal tillfrågade och antal besvarade per enkät på bladet Insamling.",
        "5. Ändra inte bladens namn eller kolumnrubrikerna. Frågornas text finns på bladet Frågor"
        " och som kommentar på varje rubrik.",
        "6. Spara som .xlsx med namnet FÖRBUNDSKOD_ÅÅÅÅ-ÅÅ.xlsx, t.ex. SF07_2025-26.xlsx.",
        "   En rättad fil skickas med samma början på namnet (t.ex. SF07_2025-26_v2.xlsx) och ersätter den tidigare.",
    ]
    ws.write(0, 0, lines[0], bold)
    for i, line in enumerate(lines[1:], start=1):
        ws.write(i, 0, line, wrap)

    qs = wb.add_worksheet("Frågor")
    qs.write_row(0, 0, ["Enkät", "Frågekod", "Indikator", "Fråga"], bold)
    qs.set_column(0, 2, 14)
    qs.set_column(3, 3, 100)
    row = 1
    for g in catalogue.groups_in(period):
        for q in catalogue.questions_for(g.code, period):
            qs.write_row(row, 0, [g.sheet_name, q.code, q.indicator_id, q.text])
            row += 1
