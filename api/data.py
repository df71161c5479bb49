"""A selection over a cube, checked against the allow-list, and the cells it selects.

Value expressions follow PxWebApi 2.0: a code, `*`, `prefix*`, `*suffix`, `*part*`, `top(n)` and
`bottom(n)` (the first or last n values; on the time dimension top(n) is the latest n). A dimension
left out of a selection is eliminated to its total (gender `T`, `RIKET`, `alla`) where the table has
one; otherwise it must be selected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from api.cubes import CONTENTS, Cube, Cubes, text_of
from core.swedish import NO_VALUE, SUPPRESSED
from publication.reader import quoted

TOP = re.compile(r"^(top|bottom)\((\d{1,6})\)$", re.IGNORECASE)
MAX_CODE_LENGTH = 200


class BadSelection(ValueError):
    """A selection the API refuses with 400: unknown variable or value, or a malformed expression."""


class TooManyCells(ValueError):
    """A selection larger than maxDataCells (403)."""


def expand(dimension_values: list[str], expression: str, variable: str, time: bool = False) -> list[str]:
    if not isinstance(expression, str) or not expression or len(expression) > MAX_CODE_LENGTH:
        raise BadSelection(f"A value code for variable {variable} must be a non-empty string of at most "
                           f"{MAX_CODE_LENGTH} characters.")
    if expression == "*":
        return list(dimension_values)
    if m := TOP.match(expression):
        n = int(m.group(2))
        if n < 1:
            raise BadSelection(f"{expression} selects nothing for variable {variable}.")
        latest_first = dimension_values[::-1] if time else dimension_values
        chosen = latest_first[:n] if m.group(1).lower() == "top" else latest_first[-n:]
        return chosen
    if "*" in expression:
        if expression.count("*") > 2 or "*" in expression.strip("*"):
            raise BadSelection(f"Value expression {expression!r} for variable {variable} is not valid: use a code, "
                               "*, prefix*, *suffix, *part*, top(n) or bottom(n).")
        part = expression.strip("*")
        if expression.startswith("*") and expression.endswith("*"):
            return [v for v in dimension_values if part in v]
        if expression.endswith("*"):
            return [v for v in dimension_values if v.startswith(part)]
        return [v for v in dimension_values if v.endswith(part)]
    if expression not in dimension_values:
        raise BadSelection(f"Value {expression} is not a valid value code for variable {variable}.")
    return [expression]


def resolve(cube: Cube, selection: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each dimension's selected codes, in the cube's order; raises BadSelection."""
    unknown = [v for v in selection if cube.dimension(v) is None]
    if unknown:
        raise BadSelection(f"Variable {unknown[0]} is not a variable of table {cube.id}; the variables are "
                           + ", ".join(d.code for d in cube.dimensions) + ".")
    resolved = {}
    for dim in cube.dimensions:
        if dim.code in selection:
            chosen: list[str] = []
            for expression in selection[dim.code]:
                expanded = expand(dim.values, expression, dim.code, time=dim is cube.time)
                chosen += [v for v in expanded if v not in chosen]
            order = {v: i for i, v in enumerate(dim.values)}
            resolved[dim.code] = sorted(chosen, key=order.__getitem__)
        elif dim.code == CONTENTS:
            resolved[dim.code] = list(dim.values)
        elif dim.elimination_value is not None:
            resolved[dim.code] = [dim.elimination_value]
        else:
            raise BadSelection(f"Variable {dim.code} cannot be eliminated: select at least one value "
                               f"(for example valueCodes[{dim.code}]=*).")
        if not resolved[dim.code]:
            raise BadSelection(f"The selection for variable {dim.code} matches no value.")
    return resolved


def default_selection(cube: Cube) -> dict[str, list[str]]:
    """What /data returns without a selection: the latest time value, every contents, the totals
    where a dimension has one, and every value of the other dimensions."""
    selection = {}
    for dim in cube.dimensions:
        if dim is cube.time:
            selection[dim.code] = [dim.values[-1]] if dim.values else ["*"]
        elif dim.elimination_value is None:
            selection[dim.code] = ["*"]
    return selection


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
        if len(resolved[dim.code]) < len(dim.values):
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
    content_values = [[int(t == cube.texts[c][1]) for t in rendered[cube.texts[c][0]]] if c in cube.texts
                      else table.column(c).to_pylist() for c in contents]
    row_status = table.column("status").to_pylist() if protected else [None] * table.num_rows
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
