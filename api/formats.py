"""The output formats, for the API's /data and for `nns export`.

- json-stat2: PxWebApi 2.0's default; a suppressed cell is null with status `..`, a cell without a
  value (nobody in the group, or no such combination) null with status `.`. The dimensions are in the
  placement's order (the stub, then the heading), so `value` is row-major in that order.
- px: PC-Axis, UTF-8, lines of at most 256 characters; the same symbols `..` and `.` in DATA.
- json-px: PxWeb's JSON table (columns, data rows of key and values, comments, metadata).
- csv, xlsx and html from the API: the cube as a table, the stub's variables down the side and the
  heading's across, with codes, texts or both (outputFormatParams).
- csv, xlsx and parquet from `nns export`: the table's rows as published (csv in Swedish Excel's dialect
  by default, `plain=True` for machines; xlsx with a units row and a sheet explaining `..`).

Every text written to a format a spreadsheet opens (csv, xlsx, html) passes `spreadsheet_text`, the one
place core.escape.spreadsheet_cell is applied, so that no cell is run as a formula.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from api.cubes import CONTENTS, GEO_DIMENSIONS, TIME_DIMENSIONS, Cube, Cubes, Dimension, reference_period
from api.data import CubeData, Placement, default_placement
from core.escape import spreadsheet_cell
from core.swedish import NO_VALUE, SUPPRESSED
from publication.spec import COLUMNS, SOURCE, TEXT

FORMATS = {  # format -> (media type, file suffix)
    "json-stat2": ("application/json; charset=utf-8", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "html": ("text/html; charset=utf-8", "html"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "px": ("application/octet-stream", "px"),
    "json-px": ("application/json; charset=utf-8", "json"),
}
# outputFormatParams (PxAPI-2.yml's OutputFormatParamType, plus SeparatorComma and our Plain): the formats each
# applies to, and the groups of which a request may name one at most.
FORMAT_PARAMS = {
    "UseCodes": ("csv", "html", "xlsx"), "UseTexts": ("csv", "html", "xlsx"),
    "UseCodesAndTexts": ("csv", "html", "xlsx"), "IncludeTitle": ("csv", "html", "xlsx"),
    "SeparatorTab": ("csv",), "SeparatorSpace": ("csv",), "SeparatorSemicolon": ("csv",),
    "SeparatorComma": ("csv",), "Plain": ("csv",),
}
EXCLUSIVE_PARAMS = [("UseCodes", "UseTexts", "UseCodesAndTexts"),
                    ("SeparatorTab", "SeparatorSpace", "SeparatorSemicolon", "SeparatorComma", "Plain")]
PLACED_FORMATS = ("json-stat2", "csv", "xlsx", "html", "px")  # the formats heading and stub apply to
DEFAULT_SHOW = {"csv": "UseCodes", "xlsx": "UseTexts", "html": "UseTexts"}
SEPARATORS = {"SeparatorTab": "\t", "SeparatorSpace": " ", "SeparatorSemicolon": ";", "SeparatorComma": ",",
              "Plain": ","}
PX_LINE = 256  # the longest line a PC-Axis file may have
PX_KEY_LABEL = 100  # a content's label names it inside keywords (UNITS("label")=…): longer ones are shortened
EXPLANATION = [
    (SUPPRESSED, "Uppgiften är skyddad: för få personer för att publiceras (röjandekontroll), eller dold så att en "
           "sådan uppgift inte kan räknas fram.", "Suppressed by disclosure control."),
    (NO_VALUE, "Uppgift saknas: ingen i gruppen, eller kombinationen finns inte i tabellen.",
     "No value: nobody in the group, or no such combination."),
]


def spreadsheet_text(value) -> str:
    """A text for a cell of csv, xlsx or html: lists joined, and never a formula (core.escape)."""
    if _is_list(value):
        value = ", ".join(map(str, value))
    return spreadsheet_cell(str(value))


def csv_line(fields: list[str], separator: str, end: str) -> str:
    """One csv record: a field is quoted when it holds the separator, a quote, a line feed or a carriage return
    (Python's csv module leaves a lone carriage return unquoted when records end in LF, which splits the row)."""
    def field(text: str) -> str:
        if any(ch in text for ch in (separator, '"', "\n", "\r")) or text != text.strip(" "):
            return '"' + text.replace('"', '""') + '"'
        return text
    return separator.join(field(f) for f in fields) + end


def contact(contact_text: str) -> dict:
    return {"name": contact_text, "organization": "NNS", "raw": contact_text}


def _lang_label(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


# ---- the cells of a selection in the order of a placement ----

@dataclass
class Layout:
    """A selection's cells arranged by a placement: the stub's and the heading's dimensions and value codes, and for
    each stub row the flat indexes (into CubeData.values) of its cells, heading order."""

    stub: list[tuple[Dimension, list[str]]]
    heading: list[tuple[Dimension, list[str]]]
    rows: list[tuple[tuple[str, ...], list[int]]]  # (the stub's codes, the cells' indexes)

    @property
    def columns(self) -> list[tuple[str, ...]]:
        return list(itertools.product(*[codes for _, codes in self.heading]))


def layout(data: CubeData, placement: Placement | None = None) -> Layout:
    placement = placement or default_placement(data.cube)
    order = [d.code for d in data.cube.dimensions]
    strides, stride = {}, 1
    for code in reversed(order):
        strides[code] = stride
        stride *= len(data.selection[code])
    stub = [(data.cube.dimension(c), data.selection[c]) for c in placement.stub]
    heading = [(data.cube.dimension(c), data.selection[c]) for c in placement.heading]
    heading_offsets = [sum(i * strides[d.code] for i, (d, _) in zip(combo, heading, strict=True))
                       for combo in itertools.product(*[range(len(codes)) for _, codes in heading])]
    rows = []
    for combo in itertools.product(*[range(len(codes)) for _, codes in stub]):
        base = sum(i * strides[d.code] for i, (d, _) in zip(combo, stub, strict=True))
        codes = tuple(stub[k][1][i] for k, i in enumerate(combo))
        rows.append((codes, [base + offset for offset in heading_offsets]))
    return Layout(stub, heading, rows)


def _symbol(data: CubeData, index: int) -> str:
    return data.status.get(index, NO_VALUE)


# ---- JSON-stat 2.0 ----

def jsonstat(pub: Cubes, data: CubeData | None, cube: Cube, lang: str, contact_text: str,
             placement: Placement | None = None, selection: dict[str, list[str]] | None = None) -> dict:
    """A JSON-stat 2.0 dataset: metadata only when `data` is None (every value of `selection`, else of the cube, and
    `value` an empty sparse object: every cell missing), else the selection's cells. The dimensions are in the
    placement's order, the stub first, so `value` is row-major in it."""
    placement = placement or default_placement(cube)
    chosen = data.selection if data else selection or {d.code: d.values for d in cube.dimensions}
    dims = {}
    for dim in cube.dimensions:
        codes = chosen[dim.code]
        category: dict = {"index": {c: i for i, c in enumerate(codes)},
                          "label": {c: dim.label_of(c, lang) for c in codes}}
        extension: dict = {"elimination": dim.elimination_value is not None, "show": "value"}
        if dim.elimination_value is not None:
            extension["eliminationValueCode"] = dim.elimination_value
        if dim.code == CONTENTS:
            category["unit"] = {c: {"base": _unit_text(dim.units[c], lang), "decimals": dim.units[c].decimals}
                                for c in codes}
            extension["refperiod"] = {c: _refperiod_text(cube) for c in codes}
        if dim.code in TIME_DIMENSIONS:
            extension["refperiod"] = {c: reference_period(c, dim.code) for c in codes}
        if dim.codelists:
            extension["codeLists"] = [{"id": c, "label": _lang_label(dim.label, lang), "type": "Valueset",
                                       "links": []} for c in dim.codelists]
        dims[dim.code] = {"label": _lang_label(dim.label, lang), "category": category, "extension": extension}
    role = {"time": [cube.time.code]} if cube.time else {}
    role["metric"] = [CONTENTS]
    if geo := [d.code for d in cube.dimensions if d.code in GEO_DIMENSIONS]:
        role["geo"] = geo
    ids = [*placement.stub, *placement.heading]
    decimals = [cube.contents.units[c].decimals for c in chosen[CONTENTS]]
    dataset = {
        "version": "2.0",
        "class": "dataset",
        "label": cube.label(lang),
        "source": SOURCE,
        "updated": pub.db.info.updated,
        "note": pub.db.notes(lang, cube.spec.name),
        "role": role,
        "id": ids,
        "size": [len(chosen[code]) for code in ids],
        "dimension": {code: dims[code] for code in ids},
        "extension": {
            "px": {"tableid": cube.id, "language": lang, "contents": cube.label(lang),
                   "decimals": max(decimals, default=0), "official-statistics": False, "aggregallowed": False,
                   "matrix": cube.id, "subject-code": "NNS", "subject-area": "Indikatorarbetet",
                   "heading": placement.heading, "stub": placement.stub},
            "firstPeriod": cube.first_period, "lastPeriod": cube.last_period,
            "contact": [contact(contact_text)],
        },
    }
    if data is None:
        dataset["value"] = {}
        return dataset
    cells = [i for _, indexes in layout(data, placement).rows for i in indexes]
    dataset["value"] = [data.values[i] for i in cells]
    status = {str(at): data.status[i] for at, i in enumerate(cells) if i in data.status}
    if status:
        dataset["status"] = status
    return dataset


def _refperiod_text(cube: Cube) -> str:
    return f"{cube.first_period}–{cube.last_period}" if cube.first_period else ""


# ---- PC-Axis ----

def _px_quote(text: str) -> str:
    return '"' + str(text).replace('"', "'").replace(";", ",").replace("\r", " ").replace("\n", " ") + '"'


def _px_strings(text: str) -> list[str]:
    """A text as one quoted string, or as several on lines of their own where it is too long for one line (PC-Axis
    joins consecutive strings)."""
    quoted = _px_quote(text)
    if len(quoted) <= PX_LINE - 2:
        return [quoted]
    inner, width = quoted[1:-1], PX_LINE - 4
    return ['"' + inner[i:i + width] + '"' for i in range(0, len(inner), width)]


def _px_keyword(keyword: str, items: list[str], *, quoted: bool = True, lead: str = "") -> list[str]:
    """KEYWORD=item,item,…; as lines of at most 256 characters, broken after a comma (`lead` is written first and
    unquoted, as TIMEVAL's TLIST(A1),)."""
    parts = [p for item in items for p in (_px_strings(item) if quoted else [str(item)])]
    joints = []  # the separator after each part: "," between items, "" inside one long text split over lines
    for item in items:
        n = len(_px_strings(item)) if quoted else 1
        joints += [""] * (n - 1) + [","]
    joints[-1] = ";"
    lines, line = [], keyword + "=" + lead
    for part, joint in zip(parts, joints, strict=True):
        if len(line) + len(part) + len(joint) > PX_LINE and line != keyword + "=" + lead:
            lines.append(line)
            line = ""
        line += part + joint
        if joint == "":  # a continued text ends its line
            lines.append(line)
            line = ""
    lines.append(line)
    return lines


def _px_content_label(contents: Dimension, code: str, lang: str) -> str:
    """A content's label in px: it names the content inside keywords, which cannot continue on a second line, so a
    long one is shortened and keeps its code to stay unique (the full text is in the metadata and json-stat2)."""
    label = contents.label_of(code, lang)
    return label if len(label) <= PX_KEY_LABEL else f"{label[:PX_KEY_LABEL].rstrip()}… [{code}]"


def _px_number(value) -> str:
    """Every digit the database holds (DECIMALS and PRECISION say how many to show)."""
    if isinstance(value, float):
        return '"."' if math.isnan(value) else repr(value)
    return str(value)


def px(pub: Cubes, data: CubeData, lang: str, contact_text: str, placement: Placement | None = None) -> bytes:
    """PC-Axis: the placement's stub and heading (the contents variable is the heading by default); suppressed cells
    are `".."`, cells without a value `"."`. TIMEVAL marks a cohort year (TLIST(A1)); a measurement period
    (2025/26, November to October) has no PC-Axis time format, so its REFPERIOD says what it covers instead."""
    cube = data.cube
    placed = layout(data, placement)
    contents = cube.contents
    dim_label = {d.code: _lang_label(d.label, lang) for d in cube.dimensions}
    shown = [contents.units[c].decimals for c in data.selection[CONTENTS]]
    lines = [
        'CHARSET="ANSI";', 'AXIS-VERSION="2013";', 'CODEPAGE="utf-8";', f'LANGUAGE="{lang}";',
        'CREATION-DATE=' + _px_quote(datetime.now(UTC).strftime("%Y%m%d %H:%M")) + ";",
        f"DECIMALS={max(shown, default=0)};", f"SHOWDECIMALS={max(shown, default=0)};",
        f"MATRIX={_px_quote(cube.id)};", 'SUBJECT-CODE="NNS";', 'SUBJECT-AREA="Indikatorarbetet";',
        *_px_keyword("TITLE", [cube.label(lang)]), *_px_keyword("CONTENTS", [cube.label(lang)]),
        *_px_keyword("UNITS", [_unit_text(contents.units[data.selection[CONTENTS][0]], lang)]),
        *_px_keyword("STUB", [dim_label[d.code] for d, _ in placed.stub]),
        *_px_keyword("HEADING", [dim_label[d.code] for d, _ in placed.heading]),
        *_px_keyword("CONTVARIABLE", [dim_label[CONTENTS]]),
    ]
    for dim, codes in [*placed.stub, *placed.heading]:
        name = _px_quote(dim_label[dim.code])
        labels = [_px_content_label(dim, c, lang) if dim.code == CONTENTS else dim.label_of(c, lang) for c in codes]
        lines += _px_keyword(f"VALUES({name})", labels)
        lines += _px_keyword(f"CODES({name})", codes)
        if dim.elimination_value is not None and dim.elimination_value in codes:
            lines += _px_keyword(f"ELIMINATION({name})", [dim.label_of(dim.elimination_value, lang)])
    if cube.time and cube.time.code == "cohort_year":
        lines += _px_keyword(f"TIMEVAL({_px_quote(dim_label[cube.time.code])})", data.selection[cube.time.code],
                             lead="TLIST(A1),")
    if cube.time:
        for code in data.selection[cube.time.code]:
            lines += _px_keyword(f"REFPERIOD({_px_quote(dim_label[cube.time.code])},{_px_quote(code)})",
                                 [reference_period(code, cube.time.code)])
    for code in data.selection[CONTENTS]:
        key = _px_quote(_px_content_label(contents, code, lang))
        unit = contents.units[code]
        lines += [*_px_keyword(f"UNITS({key})", [_unit_text(unit, lang)]),
                  *_px_keyword(f"PRECISION({_px_quote(dim_label[CONTENTS])},{key})", [str(unit.decimals)],
                               quoted=False),
                  *_px_keyword(f"LAST-UPDATED({key})",
                               [pub.db.info.updated.replace("-", "").replace("T", " ")[:14]]),
                  *_px_keyword(f"CONTACT({key})", [contact_text]),
                  *_px_keyword(f"REFPERIOD({key})", [_refperiod_text(cube)])]
    lines += [*_px_keyword("SOURCE", [SOURCE]), *_px_keyword("NOTE", [" ".join(pub.db.notes(lang, cube.spec.name))]),
              f'DATASYMBOL1="{NO_VALUE}";', f'DATASYMBOL2="{SUPPRESSED}";', "DATA="]
    for _, indexes in placed.rows:
        line = ""
        for i in indexes:
            value = data.values[i]
            cell = f'"{_symbol(data, i)}"' if value is None else _px_number(value)
            if line and len(line) + 1 + len(cell) > PX_LINE:
                lines.append(line)
                line = ""
            line = f"{line} {cell}" if line else cell
        lines.append(line)
    lines.append(";")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# ---- PxWeb's JSON table (json-px) ----

def json_px(pub: Cubes, data: CubeData, lang: str) -> dict:
    """One column per variable (`t` the time variable, `d` the others) and one per content (`c`, with its unit); one
    data row per combination of the variables with its contents' values as texts (`..` and `.` without a value)."""
    cube = data.cube
    placed = layout(data)
    columns = [{"code": d.code, "text": _lang_label(d.label, lang), "type": "t" if d is cube.time else "d"}
               for d in cube.dimensions[:-1]]
    contents = cube.contents
    columns += [{"code": c, "text": contents.label_of(c, lang), "type": "c",
                 "unit": _unit_text(contents.units[c], lang)} for c in data.selection[CONTENTS]]
    rows = [{"key": list(codes),
             "values": [_symbol(data, i) if data.values[i] is None else _px_number(data.values[i])
                        for i in indexes]} for codes, indexes in placed.rows]
    return {"columns": columns, "comments": [{"comment": note} for note in pub.db.notes(lang, cube.spec.name)],
            "data": rows,
            "metadata": [{"infofile": "None", "updated": pub.db.info.updated, "label": cube.label(lang),
                          "source": SOURCE}]}


# ---- the cube as a table: csv, xlsx and html ----

def _shown(dim: Dimension, code: str, show: str, lang: str) -> str:
    if show == "UseCodes":
        return code
    label = dim.label_of(code, lang)
    return label if show == "UseTexts" else f"{code} {label}"


def table_rows(data: CubeData, placement: Placement | None, show: str, lang: str) -> tuple[list[str], list[list]]:
    """The header (the stub's variables, then one column per combination of the heading's values) and the rows
    (the stub's values, then the cells: a number, or `..` / `.`). Texts are not escaped here."""
    placed = layout(data, placement)
    header = [d.code if show == "UseCodes" else _lang_label(d.label, lang) for d, _ in placed.stub]
    header += [" ".join(_shown(d, code, show, lang) for (d, _), code in zip(placed.heading, combo, strict=True))
               for combo in placed.columns]
    rows = []
    for codes, indexes in placed.rows:
        stub = [_shown(d, code, show, lang) for (d, _), code in zip(placed.stub, codes, strict=True)]
        rows.append(stub + [_symbol(data, i) if data.values[i] is None else data.values[i] for i in indexes])
    return header, rows


def cube_csv(data: CubeData, placement: Placement | None, params: set[str], lang: str, title: str) -> bytes:
    """The cube as csv: `;` and a decimal comma with a byte-order mark for Swedish Excel unless a separator says
    otherwise (a comma separator has a decimal point; Plain is that without the byte-order mark, with LF)."""
    show = next((p for p in ("UseCodes", "UseTexts", "UseCodesAndTexts") if p in params), DEFAULT_SHOW["csv"])
    separator = next((SEPARATORS[p] for p in SEPARATORS if p in params), ";")
    point = separator == ","
    header, rows = table_rows(data, placement, show, lang)
    end = "\n" if "Plain" in params else "\r\n"
    lines = [csv_line([spreadsheet_text(title)], separator, end)] if "IncludeTitle" in params else []
    lines.append(csv_line([spreadsheet_text(h) for h in header], separator, end))
    lines += [csv_line([spreadsheet_text(v) if isinstance(v, str) else _number_text(v, point) for v in row],
                       separator, end) for row in rows]
    return (("" if "Plain" in params else "\ufeff") + "".join(lines)).encode("utf-8")


def _number_text(value, point: bool) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    return text if point else text.replace(".", ",")


def cube_xlsx(data: CubeData, placement: Placement | None, params: set[str], lang: str, title: str,
              about_lines: list[str]) -> bytes:
    show = next((p for p in ("UseCodes", "UseTexts", "UseCodesAndTexts") if p in params), DEFAULT_SHOW["xlsx"])
    header, rows = table_rows(data, placement, show, lang)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("data")
    bold = book.add_format({"bold": True})
    first = 0
    if "IncludeTitle" in params:
        sheet.write_string(0, 0, spreadsheet_text(title), bold)
        first = 2
    for c, text in enumerate(header):
        sheet.write_string(first, c, spreadsheet_text(text), bold)
    for r, row in enumerate(rows, start=first + 1):
        for c, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(r, c, spreadsheet_text(value))
            else:
                sheet.write_number(r, c, value)
    sheet.freeze_panes(first + 1, len(placement.stub) if placement else len(data.cube.dimensions) - 1)
    _about_sheet(book, title, about_lines)
    book.close()
    return out.getvalue()


def cube_html(data: CubeData, placement: Placement | None, params: set[str], lang: str, title: str,
              notes: list[str]) -> bytes:
    """The cube as an HTML table (numbers as in the database, `..` and `.` without a value), texts escaped for HTML
    and for a spreadsheet that opens the page."""
    show = next((p for p in ("UseCodes", "UseTexts", "UseCodesAndTexts") if p in params), DEFAULT_SHOW["html"])
    header, rows = table_rows(data, placement, show, lang)

    def text(value) -> str:
        return html.escape(spreadsheet_text(value))

    parts = [f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{text(title)}</title></head>'
             "<body>"]
    if "IncludeTitle" in params:
        parts.append(f"<h1>{text(title)}</h1>")
    parts.append("<table><thead><tr>" + "".join(f'<th scope="col">{text(h)}</th>' for h in header)
                 + "</tr></thead><tbody>")
    stub_width = len(layout(data, placement).stub)
    for row in rows:
        cells = [f'<th scope="row">{text(v)}</th>' for v in row[:stub_width]]
        cells += [f"<td>{text(v)}</td>" if isinstance(v, str) else f"<td>{v!r}</td>" for v in row[stub_width:]]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>" + "".join(f"<p>{text(n)}</p>" for n in notes) + "</body></html>\n")
    return "".join(parts).encode("utf-8")


def _about_sheet(book, title: str, about_lines: list[str]) -> None:
    bold = book.add_format({"bold": True})
    about = book.add_worksheet("om tabellen")
    about.write_string(0, 0, spreadsheet_text(title), bold)
    for i, line in enumerate(about_lines, start=1):
        about.write_string(i, 0, spreadsheet_text(line))
    start = len(about_lines) + 2
    about.write_row(start, 0, ["symbol", "betydelse", "meaning"], bold)
    for i, (symbol, sv, en) in enumerate(EXPLANATION, start=start + 1):
        about.write_row(i, 0, [symbol, sv, en])
    about.set_column(0, 0, 12)
    about.set_column(1, 2, 90)
    return about


def json_bytes(body) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
    if plain:
        lines = [csv_line(list(frame.columns), ",", "\n")]
        lines += [csv_line([_plain(v) for v in row], ",", "\n")
                  for row in _lists_joined(frame).astype(object).itertuples(index=False)]
        return "".join(lines).encode("utf-8")
    shown = displayed(frame, nulled)
    lines = [csv_line(list(frame.columns), ";", "\r\n")]
    lines += [csv_line(["" if v is None else _swedish(v) for v in row], ";", "\r\n")
              for row in shown.itertuples(index=False)]
    return ("\ufeff" + "".join(lines)).encode("utf-8")


def _plain(value) -> str:
    """A value in the plain dialect: empty for null, a decimal point, times in ISO 8601, texts escaped."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return spreadsheet_text(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _swedish(value) -> str:
    if isinstance(value, str):
        return spreadsheet_text(value)
    if isinstance(value, bool):
        return "sant" if value else "falskt"
    if isinstance(value, float):
        return repr(value).replace(".", ",") if value == value else ""
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    return str(value)


def to_xlsx(frame: pd.DataFrame, nulled: list[str], title: str, source_lines: list[str]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True, "strings_to_formulas": False})
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
                sheet.write_string(r, c, spreadsheet_text(value))  # never a formula, even when edited
            else:
                sheet.write(r, c, value)
    sheet.freeze_panes(2, 0)
    sheet.autofilter(0, 0, max(1, len(shown) + 1), max(0, len(frame.columns) - 1))
    about = _about_sheet(book, title, source_lines)
    about.write_string(len(source_lines) + 6, 0,
                       "Rad 2 på bladet data anger enheten för varje kolumn (antal, andel 0–1, …).")
    book.close()
    return out.getvalue()


def to_parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()
