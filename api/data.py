"""A selection over a cube, checked against the allow-list, and the cells it selects.

Value expressions follow PxWebApi 2.0 (PxTools/PxWebApi's SelectionExpressions): a code, `*`, `?` (one
character), `prefix*`, `*suffix`, `*part*`, `top(n[,offset])`, `bottom(n[,offset])`, `from(code)`,
`to(code)` and `range(code1,code2)`. A dimension left out of a selection is eliminated to its total
(gender `T`, `RIKET`, `alla`) where the table has one; otherwise it must be selected. A codelist (a
value set of the catalogue) narrows a variable to its codes. A placement puts variables in the heading
or the stub of the table formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from api.cubes import CONTENTS, SUPPRESSED_CONTENT, Cube, Cubes, text_of
from core.swedish import NO_VALUE, SUPPRESSED
from publication.reader import quoted

EXPRESSION = re.compile(r"^(top|bottom|from|to|range)\((.*)\)$", re.IGNORECASE | re.DOTALL)
COUNT_AND_OFFSET = re.compile(r"^\s*([1-9]\d{0,5})\s*(?:,\s*(\d{1,6})\s*)?$")
MAX_CODE_LENGTH = 200
EXPRESSIONS = ("a code, *, ? (one character), prefix*, *suffix, *part*, top(n), top(n,offset), bottom(n), "
               "bottom(n,offset), from(code), to(code) or range(code1,code2)")


class BadSelection(ValueError):
    """A selection the API refuses with 400: unknown variable or value, or a malformed expression."""


class TooManyCells(ValueError):
    """A selection larger than maxDataCells (403)."""


def split_codes(text: str) -> list[str]:
    """valueCodes[VAR]=a,b,top(2,1): the codes and expressions of a GET, split at commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth <= 0:
            parts.append(current)
            current, depth = "", 0
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _code_index(values: list[str], code: str, expression: str, variable: str) -> int:
    """Where a code named in from(), to() or range() is: exactly, else ignoring case (as PxWebApi does)."""
    code = code.strip()
    if code in values:
        return values.index(code)
    folded = [v.casefold() for v in values]
    if code.casefold() in folded:
        return folded.index(code.casefold())
    raise BadSelection(f"Value {code[:MAX_CODE_LENGTH]} in {expression[:MAX_CODE_LENGTH]} is not a valid value code "
                       f"for variable {variable}.")


def _wildcard(values: list[str], expression: str, variable: str) -> list[str]:
    """`*` (any characters) at the start and/or the end, and `?` (exactly one character) anywhere; case-insensitive."""
    stars = expression.count("*")
    if expression != "*" and (stars > 2 or "*" in expression[1:-1] or (stars == 2 and len(expression) < 2)):
        raise BadSelection(f"Value expression {expression!r} for variable {variable} is not valid: a * may only "
                           f"stand first or last. Use {EXPRESSIONS}.")
    pattern = re.compile("^" + re.escape(expression).replace(r"\*", ".*").replace(r"\?", ".") + "$",
                         re.IGNORECASE | re.DOTALL)
    return [v for v in values if pattern.match(v)]


def expand(values: list[str], expression: str, variable: str, time: bool = False) -> list[str]:
    """The values a code or a PxWebApi 2.0 selection expression selects, in the variable's order.

    top(n, offset) is the first n values after skipping offset, bottom(n, offset) the last n; on the time variable
    (ascending) top is the latest and bottom the earliest, as Statistics Sweden's API has it. from(), to() and
    range() include the codes they name. Codes and expressions match ignoring case where nothing matches exactly.
    """
    if not isinstance(expression, str) or not expression or len(expression) > MAX_CODE_LENGTH:
        raise BadSelection(f"A value code for variable {variable} must be a non-empty string of at most "
                           f"{MAX_CODE_LENGTH} characters.")
    if expression in values:
        return [expression]
    if m := EXPRESSION.match(expression):
        function, argument = m.group(1).lower(), m.group(2)
        if function in ("top", "bottom"):
            counted = COUNT_AND_OFFSET.match(argument)
            if not counted:
                raise BadSelection(f"Value expression {expression!r} for variable {variable} is not valid: "
                                   f"{function}(n) or {function}(n,offset), n from 1 and offset from 0.")
            n, offset = int(counted.group(1)), int(counted.group(2) or 0)
            from_the_end = (function == "top") == time  # top of a time variable is its latest values
            ordered = values[::-1] if from_the_end else values
            chosen = set(ordered[offset:offset + n])
            return [v for v in values if v in chosen]
        if function == "range":
            codes = argument.split(",")
            if len(codes) != 2 or not all(c.strip() for c in codes):
                raise BadSelection(f"Value expression {expression!r} for variable {variable} is not valid: "
                                   "range(code1,code2).")
            first, last = sorted(_code_index(values, c, expression, variable) for c in codes)
            return values[first:last + 1]
        at = _code_index(values, argument, expression, variable)
        return values[at:] if function == "from" else values[:at + 1]
    if "*" in expression or "?" in expression:
        return _wildcard(values, expression, variable)
    folded = {v.casefold(): v for v in values}
    if expression.casefold() in folded:
        return [folded[expression.casefold()]]
    raise BadSelection(f"Value {expression} is not a valid value code for variable {variable}.")


def resolve(cube: Cube, selection: dict[str, list[str]], codelists: dict[str, str] | None = None,
            value_sets: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Each dimension's selected codes, in the cube's order; raises BadSelection.

    `codelists` applies a value set to a variable (variable -> codelist id, checked by `applied_codelists`); its
    codes are in `value_sets`. The variable's values are then those of the value set (a code with no row in the
    table is a cell without a value, `.`), and it has no total to be eliminated to.
    """
    codelists, value_sets = codelists or {}, value_sets or {}
    chosen_by_code: dict[str, list[str]] = {}
    for name, expressions in selection.items():
        dim = cube.dimension(name)
        if dim is None:
            raise BadSelection(f"Variable {name[:100]} is not a variable of table {cube.id}; the variables are "
                               + ", ".join(d.code for d in cube.dimensions) + ".")
        chosen_by_code.setdefault(dim.code, []).extend(expressions)
    resolved = {}
    for dim in cube.dimensions:
        values = dim.values
        if dim.code in codelists:  # the value set's codes, those without rows in the table as cells without value
            values = list(value_sets[codelists[dim.code]])
        if dim.code in chosen_by_code:
            chosen: set[str] = set()
            for expression in chosen_by_code[dim.code]:
                chosen.update(expand(values, expression, dim.code, time=dim is cube.time))
            resolved[dim.code] = [v for v in values if v in chosen]
        elif dim.code == CONTENTS:
            resolved[dim.code] = list(dim.values)
        elif dim.elimination_value is not None and dim.code not in codelists:
            resolved[dim.code] = [dim.elimination_value]
        else:
            why = f" with codelist {codelists[dim.code]}" if dim.code in codelists else ""
            raise BadSelection(f"Variable {dim.code} cannot be eliminated{why}: select at least one value "
                               f"(for example valueCodes[{dim.code}]=*).")
        if not resolved[dim.code]:
            raise BadSelection(f"The selection for variable {dim.code} matches no value.")
    return resolved


def applied_codelists(cube: Cube, requested: dict[str, str]) -> dict[str, str]:
    """{variable: codelist} by the cube's variable codes; raises BadSelection for a codelist the variable has not."""
    applied = {}
    for name, codelist in requested.items():
        dim = cube.dimension(name)
        if dim is None:
            raise BadSelection(f"Variable {name[:100]} in codelist[{name[:100]}] is not a variable of table {cube.id}.")
        if codelist not in dim.codelists:
            offered = ", ".join(dim.codelists) if dim.codelists else "none"
            raise BadSelection(f"Codelist {codelist[:100]!r} cannot be applied to variable {dim.code} of table "
                               f"{cube.id}; its codelists: {offered}.")
        applied[dim.code] = codelist
    return applied


def default_selection(cube: Cube) -> dict[str, list[str]]:
    """What /data returns without a selection (api.cubes builds it once per cube): rows that exist, never a cube of
    impossible combinations."""
    return {code: list(values) for code, values in cube.default.items()}


@dataclass(frozen=True)
class Placement:
    """Which variables are in the heading (columns) and which in the stub (rows) of csv, xlsx, html and px."""

    heading: list[str]
    stub: list[str]


def default_placement(cube: Cube) -> Placement:
    return Placement([CONTENTS], [d.code for d in cube.dimensions[:-1]])


def placement(cube: Cube, heading: list[str] | None, stub: list[str] | None) -> Placement:
    """The requested placement, as PxWebApi: both lists, or one and the other is the rest; raises BadSelection."""
    if not heading and not stub:
        return default_placement(cube)
    named = []
    for name in [*(heading or []), *(stub or [])]:
        dim = cube.dimension(name)
        if dim is None:
            raise BadSelection(f"Variable {name[:100]} in heading or stub is not a variable of table {cube.id}; the "
                               "variables are " + ", ".join(d.code for d in cube.dimensions) + ".")
        if dim.code in named:
            raise BadSelection(f"Variable {dim.code} is placed twice in heading and stub.")
        named.append(dim.code)
    heading_codes = [cube.dimension(n).code for n in heading or []]
    stub_codes = [cube.dimension(n).code for n in stub or []]
    rest = [d.code for d in cube.dimensions if d.code not in named]
    if heading and stub:
        if rest:
            raise BadSelection("heading and stub must together place every variable; not placed: "
                               + ", ".join(rest) + ".")
        return Placement(heading_codes, stub_codes)
    return Placement(heading_codes, rest) if heading else Placement(rest, stub_codes)


def cell_count(resolved: dict[str, list[str]]) -> int:
    count = 1
    for codes in resolved.values():
        count *= len(codes)
    return count


@dataclass
class CubeData:
    cube: Cube
    selection: dict[str, list[str]]  # dimension -> codes, the cube's order
    values: list[float | int | None]  # row-major, the last dimension (ContentsCode) fastest
    status: dict[int, str]  # index -> '..' (suppressed) or '.' (no value)
    table: pa.Table  # the table's rows in the selection, with the database's types (parquet)

    @property
    def rows(self) -> pd.DataFrame:
        """The rows for csv and xlsx: whole numbers stay whole (nullable), nulls are NA."""
        return frame_of(self.table)


INTEGER_TYPES = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                 pa.int64(): pd.Int64Dtype()}


def frame_of(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=INTEGER_TYPES.get)


def _where(cube: Cube, resolved: dict[str, list[str]]) -> tuple[str, list]:
    clauses, params = [], []
    for dim in cube.dimensions[:-1]:
        if not set(dim.values) <= set(resolved[dim.code]):  # some of the table's values are not selected
            clauses.append(f"list_contains(?::varchar[], cast({quoted(dim.code)} as varchar))")
            params.append(resolved[dim.code])
    return (" where " + " and ".join(clauses)) if clauses else "", params


def fetch(pub: Cubes, cube: Cube, resolved: dict[str, list[str]], max_cells: int) -> CubeData:
    cells = cell_count(resolved)
    if cells > max_cells:
        raise TooManyCells(f"The selection has {cells} data cells; at most {max_cells} are allowed in one request "
                           "(maxDataCells in /config). Select fewer values or split the request.")
    keys = [d.code for d in cube.dimensions[:-1]]
    contents = resolved[CONTENTS]
    protected = cube.spec.protected and "status" in cube.column_types
    left_out = set(cube.contents.values) - set(contents)
    columns = [c for c in pub.db.published_columns(cube.spec) if c not in left_out]
    where, params = _where(cube, resolved)
    order = ", ".join(quoted(k) for k in keys)
    table = pub.db.arrow(f"select {', '.join(quoted(c) for c in columns)} from {quoted(cube.id)}{where} "
                         f"order by {order}", params)
    index = [{code: i for i, code in enumerate(resolved[k])} for k in keys]
    strides, stride = [], len(contents)
    for k in reversed(keys):
        strides.insert(0, stride)
        stride *= len(resolved[k])
    values: list[float | int | None] = [None] * cells
    status: dict[int, str] = dict.fromkeys(range(cells), NO_VALUE)
    nulled = set(cube.spec.nulled)
    key_codes = [[str(v) for v in table.column(k).to_pylist()] for k in keys]
    # each content's values by row: a column's own, or for a text whether the row holds it (1) or not (0)
    rendered = {column: [text_of(v) for v in table.column(column).to_pylist()]
                for column in {cube.texts[c][0] for c in contents if c in cube.texts}}
    row_status = table.column("status").to_pylist() if protected else [None] * table.num_rows
    content_values = [[int(t == cube.texts[c][1]) for t in rendered[cube.texts[c][0]]] if c in cube.texts
                      else [int(s == SUPPRESSED) for s in row_status] if c == SUPPRESSED_CONTENT
                      else table.column(c).to_pylist() for c in contents]
    for r in range(table.num_rows):
        base = 0
        for i in range(len(keys)):
            base += index[i][key_codes[i][r]] * strides[i]
        for j, column in enumerate(contents):
            value = content_values[j][r]
            at = base + j
            if value is None or value != value:  # null, or NaN
                if row_status[r] == SUPPRESSED and column in nulled:
                    status[at] = SUPPRESSED
                continue
            values[at] = int(value) if isinstance(value, bool) else value
            del status[at]
    return CubeData(cube, resolved, values, status, table)
