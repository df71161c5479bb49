"""The output formats, for the API's /data and for `nns export`.

- json-stat2: PxWebApi 2.0's default; a suppressed cell is null with status `..`, a cell without a
  value (nobody in the group, or no such combination) null with status `.`.
- px: PC-Axis, UTF-8; the same symbols `..` and `.` in DATA.
- csv: Swedish Excel's dialect by default (`;`, decimal comma, UTF-8 with BOM, `..` in a suppressed
  cell); `plain=True` for machines (`,`, decimal point, UTF-8 without BOM, empty for null, and the
  status column tells suppressed from empty).
- xlsx: a header row, a units row, the rows, and a sheet explaining `..`.
- parquet: the column types of the database, nulls as nulls, and the status column.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from api.cubes import CONTENTS, GEO_DIMENSIONS, TIME_DIMENSIONS, Cube, Cubes, reference_period
from api.data import CubeData
from core.escape import spreadsheet_cell
from core.swedish import NO_VALUE, SUPPRESSED
from publication.spec import COLUMNS, SOURCE, TEXT

FORMATS = {  # format -> (media type, file suffix)
    "json-stat2": ("application/json; charset=utf-8", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "px": ("application/octet-stream", "px"),
}
EXPLANATION = [
    (SUPPRESSED, "Uppgiften är skyddad: för få personer för att publiceras (röjandekontroll), eller dold så att en "
           "sådan uppgift inte kan räknas fram.", "Suppressed by disclosure control."),
    (NO_VALUE, "Uppgift saknas: ingen i gruppen, eller kombinationen finns inte i tabellen.",
     "No value: nobody in the group, or no such combination."),
]


def contact(contact_text: str) -> dict:
    return {"name": contact_text, "organization": "NNS", "raw": contact_text}


def jsonstat(pub: Cubes, data: CubeData | None, cube: Cube, lang: str, contact_text: str) -> dict:
    """A JSON-stat 2.0 dataset: the whole cube's metadata when `data` is None, else the selection."""
    selection = data.selection if data else {d.code: d.values for d in cube.dimensions}
    dims = {}
    for dim in cube.dimensions:
        codes = selection[dim.code]
        category: dict = {"index": {c: i for i, c in enumerate(codes)},
                          "label": {c: dim.label_of(c, lang) for c in codes}}
        extension: dict = {"elimination": dim.elimination_value is not None, "show": "value"}
        if dim.elimination_value is not None:
            extension["eliminationValueCode"] = dim.elimination_value
        if dim.code == CONTENTS:
            category["unit"] = {c: {"base": dim.units[c].en if lang == "en" else dim.units[c].sv,
                                    "decimals": dim.units[c].decimals} for c in codes}
            extension["refperiod"] = {c: _refperiod_text(cube, lang) for c in codes}
        if dim.code in TIME_DIMENSIONS:
            extension["refperiod"] = {c: reference_period(c, dim.code) for c in codes}
        if dim.code in ("federation_code", "indicator_id", "question_code", "support_at_start", "support_at_end"):
            extension["codeLists"] = [{"id": _codelist_id(dim.code), "label": dim.label[1 if lang == "en" else 0],
                                       "type": "Valueset", "links": []}]
        dims[dim.code] = {"label": dim.label[1 if lang == "en" else 0], "category": category, "extension": extension}
    role = {"time": [cube.time.code]} if cube.time else {}
    role["metric"] = [CONTENTS]
    if geo := [d.code for d in cube.dimensions if d.code in GEO_DIMENSIONS]:
        role["geo"] = geo
    dataset = {
        "version": "2.0",
        "class": "dataset",
        "label": cube.label(lang),
        "source": SOURCE,
        "updated": pub.db.info.updated,
        "note": pub.db.notes(lang, cube.spec.name),
        "role": role,
        "id": [d.code for d in cube.dimensions],
        "size": [len(selection[d.code]) for d in cube.dimensions],
        "dimension": dims,
        "extension": {
            "px": {"tableid": cube.id, "language": lang, "contents": cube.label(lang), "decimals": 4,
                   "official-statistics": False, "aggregallowed": False, "matrix": cube.id,
                   "subject-code": "NNS", "subject-area": "Indikatorarbetet",
                   "heading": [CONTENTS], "stub": [d.code for d in cube.dimensions[:-1]]},
            "firstPeriod": cube.first_period, "lastPeriod": cube.last_period,
            "contact": [contact(contact_text)],
        },
    }
    if data is not None:
        dataset["value"] = data.values
        if data.status:
            dataset["status"] = {str(i): s for i, s in sorted(data.status.items())}
    else:
        dataset["value"] = []
    return dataset


def _refperiod_text(cube: Cube, lang: str) -> str:
    return f"{cube.first_period}–{cube.last_period}" if cube.first_period else ""


def _codelist_id(dimension: str) -> str:
    return f"vs_{dimension}"


# ---- PC-Axis ----

def _px_quote(text: str) -> str:
    return '"' + str(text).replace('"', "'").replace(";", ",") + '"'


def _px_list(items: list[str]) -> str:
    return ",".join(_px_quote(i) for i in items)


def _px_number(value) -> str:
    """Every digit the database holds (DECIMALS and PRECISION say how many to show)."""
    if isinstance(value, float):
        return '"."' if math.isnan(value) else repr(value)
    return str(value)


def px(pub: Cubes, data: CubeData, lang: str, contact_text: str) -> bytes:
    """PC-Axis with the contents variable as the heading; suppressed cells are `".."`."""
    cube = data.cube
    stub = cube.dimensions[:-1]
    contents = cube.contents
    dim_label = {d.code: d.label[1 if lang == "en" else 0] for d in cube.dimensions}
    lines = [
        'CHARSET="ANSI";', 'AXIS-VERSION="2013";', 'CODEPAGE="utf-8";', f'LANGUAGE="{lang}";',
        'CREATION-DATE=' + _px_quote(datetime.now(UTC).strftime("%Y%m%d %H:%M")) + ";",
        f"DECIMALS={max(u.decimals for u in contents.units.values())};", "SHOWDECIMALS=4;",
        f"MATRIX={_px_quote(cube.id)};", 'SUBJECT-CODE="NNS";', 'SUBJECT-AREA="Indikatorarbetet";',
        f"TITLE={_px_quote(cube.label(lang))};", f"CONTENTS={_px_quote(cube.label(lang))};",
        f"UNITS={_px_quote(_unit_text(contents.units[data.selection[CONTENTS][0]], lang))};",
        f"STUB={_px_list([dim_label[d.code] for d in stub])};",
        f"HEADING={_px_quote(dim_label[CONTENTS])};",
        f"CONTVARIABLE={_px_quote(dim_label[CONTENTS])};",
    ]
    for dim in cube.dimensions:
        codes = data.selection[dim.code]
        lines.append(f"VALUES({_px_quote(dim_label[dim.code])})={_px_list([dim.label_of(c, lang) for c in codes])};")
        lines.append(f"CODES({_px_quote(dim_label[dim.code])})={_px_list(codes)};")
        if dim.elimination_value is not None and dim.elimination_value in codes:
            lines.append(f"ELIMINATION({_px_quote(dim_label[dim.code])})="
                         f"{_px_quote(dim.label_of(dim.elimination_value, lang))};")
    if cube.time:
        lines.append(f"TIMEVAL({_px_quote(dim_label[cube.time.code])})=TLIST(A1),"
                     f"{_px_list(data.selection[cube.time.code])};")
    for code in data.selection[CONTENTS]:
        key = _px_quote(contents.label_of(code, lang))
        unit = contents.units[code]
        lines += [f"UNITS({key})={_px_quote(_unit_text(unit, lang))};",
                  f"PRECISION({_px_quote(dim_label[CONTENTS])},{key})={unit.decimals};",
                  f"LAST-UPDATED({key})={_px_quote(pub.db.info.updated.replace('-', '').replace('T', ' ')[:14])};",
                  f"CONTACT({key})={_px_quote(contact_text)};",
                  f"REFPERIOD({key})={_px_quote(_refperiod_text(cube, lang))};"]
    lines += [f"SOURCE={_px_quote(SOURCE)};", f"NOTE={_px_quote(' '.join(pub.db.notes(lang, cube.spec.name)))};",
              f'DATASYMBOL1="{NO_VALUE}";', f'DATASYMBOL2="{SUPPRESSED}";', "DATA="]
    width = len(data.selection[CONTENTS])
    row: list[str] = []
    for i, value in enumerate(data.values):
        if value is None:
            row.append(f'"{data.status.get(i, NO_VALUE)}"')
        else:
            row.append(_px_number(value))
        if len(row) == width:
            lines.append(" ".join(row))
            row = []
    lines.append(";")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# ---- rows: csv, xlsx, parquet ----

def _unit_text(unit, lang: str) -> str:
    return unit.en if lang == "en" else unit.sv


def units_of(columns: list[str], lang: str = "sv") -> dict[str, str]:
    return {c: _unit_text(COLUMNS[c].unit, lang) for c in columns if c in COLUMNS and COLUMNS[c].unit is not TEXT}


def displayed(frame: pd.DataFrame, nulled: list[str]) -> pd.DataFrame:
    """The rows with `..` in a suppressed cell (for people: csv for Excel, xlsx)."""
    shown = _lists_joined(frame).astype(object)
    shown = shown.where(shown.notna(), None)
    if "status" in frame.columns:
        hidden = frame["status"] == SUPPRESSED
        for column in nulled:
            if column in shown.columns:
                shown.loc[hidden, column] = SUPPRESSED
    return shown


def _is_list(value) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, str | bytes)


def _lists_joined(frame: pd.DataFrame) -> pd.DataFrame:
    """A list (federations.predecessor_codes) as text, "SF19, SF20"; other columns untouched."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(_is_list).any():
            frame[column] = frame[column].map(lambda v: ", ".join(map(str, v)) if _is_list(v) else v)
    return frame


def to_csv(frame: pd.DataFrame, nulled: list[str], plain: bool = False) -> bytes:
    out = io.StringIO()
    if plain:
        _texts_escaped(_lists_joined(frame)).to_csv(out, index=False, sep=",", decimal=".", na_rep="",
                                                    lineterminator="\n")
        return out.getvalue().encode("utf-8")
    shown = displayed(frame, nulled)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(frame.columns)
    for row in shown.itertuples(index=False):
        writer.writerow(["" if v is None else _swedish(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _texts_escaped(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell through core.escape.spreadsheet_cell, so that no spreadsheet runs it as a formula."""
    texts = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(spreadsheet_cell) for c in texts})


def _swedish(value) -> str:
    if isinstance(value, str):
        return spreadsheet_cell(value)
    if isinstance(value, bool):
        return "sant" if value else "falskt"
    if isinstance(value, float):
        return repr(value).replace(".", ",") if value == value else ""
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    return str(value)


def to_xlsx(frame: pd.DataFrame, nulled: list[str], title: str, source_lines: list[str]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True})
    sheet = book.add_worksheet("data")
    bold = book.add_format({"bold": True})
    italic = book.add_format({"italic": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    units = units_of(list(frame.columns))
    shown = displayed(frame, nulled)
    sheet.write_row(0, 0, list(frame.columns), bold)
    sheet.write_row(1, 0, [units.get(c, "") for c in frame.columns], italic)
    for r, row in enumerate(shown.itertuples(index=False), start=2):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, pd.Timestamp | datetime):
                value = pd.Timestamp(value)
                value = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
                sheet.write_datetime(r, c, value.to_pydatetime(), moment)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif isinstance(value, float) and value != value:
                continue
            elif isinstance(value, str):
                sheet.write_string(r, c, spreadsheet_cell(value))  # never a formula, even when edited
            else:
                sheet.write(r, c, value)
    sheet.freeze_panes(2, 0)
    sheet.autofilter(0, 0, max(1, len(shown) + 1), max(0, len(frame.columns) - 1))
    about = book.add_worksheet("om tabellen")
    about.write(0, 0, title, bold)
    for i, line in enumerate(source_lines, start=1):
        about.write(i, 0, line)
    start = len(source_lines) + 2
    about.write_row(start, 0, ["symbol", "betydelse", "meaning"], bold)
    for i, (symbol, sv, en) in enumerate(EXPLANATION, start=start + 1):
        about.write_row(i, 0, [symbol, sv, en])
    about.write(start + 4, 0, "Rad 2 på bladet data anger enheten för varje kolumn (antal, andel 0–1, …).")
    about.set_column(0, 0, 12)
    about.set_column(1, 2, 90)
    book.close()
    return out.getvalue()


def to_parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()
