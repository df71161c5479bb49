"""Disclosure control: the one function every published output goes through.

Published cells carry a count `n` of people, and cells are tied together by
*equations*: women + men (+ the unpublished "annat") = all; the federations add
up to the nation; and across tables, a single-question indicator's result is
the same cell as its trend, and a merged federation's trend before the merger
is the sum of its predecessors' results. The rules:

1. Primary: a count 1 ≤ n < threshold is suppressed.
2. Secondary, per equation: a shown total never has exactly one hidden part
   (it would be the total minus the shown parts); a hidden total needs a hidden
   part (or it would be the sum of the parts).
3. Exact check: each connected set of equations is solved as linear algebra;
   if a small hidden count is still determined, one more cell is hidden.
   Repeat until nothing changes.

4. The attacker's check (publication.publish.protect_frames): cells the
   attacker's LP audit (publication.attack) can still bound inside
   [1, threshold − 1] are passed back as `forced` and the rules run again.

Suppressed cells get status '..' and every value built on the count is nulled.
`publication.audit.audit` proves the within-table rules over a published database
without access to the hidden values; `publication.attack` bounds every hidden count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SUPPRESSED = ".."
SHOWN = "ok"


@dataclass(frozen=True)
class Margin:
    """Within one table: the rows whose `part` column differs add up to the row where it is `total`."""

    part: str  # e.g. "gender"
    total: str  # e.g. "T"
    hidden_remainder: bool = False  # the total also includes a part never published ("annat")


@dataclass(frozen=True)
class Equation:
    """Row `total` = sum of rows `parts` (+ an unknown remainder if `remainder`)."""

    total: int
    parts: tuple[int, ...]
    remainder: bool = False


def margin_equations(df: pd.DataFrame, keys: list[str], margins: list[Margin], offset: int = 0) -> list[Equation]:
    """Equations for a table's margins; row numbers are positions in `df` plus `offset`."""
    equations = []
    for margin in margins:
        others = [k for k in keys if k != margin.part]
        is_total = (df[margin.part] == margin.total).to_numpy()
        for rows in df.groupby(others, sort=False, dropna=False).indices.values():
            totals = [r for r in rows if is_total[r]]
            parts = tuple(int(r) + offset for r in rows if not is_total[r])
            if len(totals) == 1 and parts:
                equations.append(Equation(int(totals[0]) + offset, parts, margin.hidden_remainder))
    return equations


def _apply_rules(counts: np.ndarray, hidden: np.ndarray, equations: list[Equation]) -> bool:
    changed = False
    for eq in equations:
        parts = np.fromiter(eq.parts, dtype=np.int64)
        hidden_parts = int(hidden[parts].sum())
        lone_part = not hidden[eq.total] and hidden_parts == 1
        summed_total = hidden[eq.total] and counts[eq.total] > 0 and hidden_parts == 0 and not eq.remainder
        if not (lone_part or summed_total):
            continue
        candidates = parts[~hidden[parts] & (counts[parts] > 0)]
        if len(candidates):
            hidden[candidates[np.argmin(counts[candidates])]] = True  # first smallest: deterministic
        elif not hidden[eq.total]:
            hidden[eq.total] = True
        else:
            continue
        changed = True
    return changed


def _components(n_rows: int, equations: list[Equation]) -> list[list[int]]:
    """Groups of equations that share rows (union-find on rows)."""
    parent = list(range(n_rows))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for eq in equations:
        root = find(eq.total)
        for p in eq.parts:
            parent[find(p)] = root
    groups: dict[int, list[int]] = {}
    for i, eq in enumerate(equations):
        groups.setdefault(find(eq.total), []).append(i)
    return list(groups.values())


def _determined(counts, hidden, equations, components, threshold) -> list[int]:
    """Small hidden counts that the equations still pin down (zero across the null space)."""
    pinned = []
    for component in components:
        eqs = [equations[i] for i in component]
        rows = sorted({r for eq in eqs for r in (eq.total, *eq.parts) if hidden[r]})
        sensitive = [r for r in rows if 1 <= counts[r] < threshold]
        if not sensitive:
            continue
        column = {r: j for j, r in enumerate(rows)}
        width = len(rows) + sum(eq.remainder for eq in eqs)
        matrix = np.zeros((len(eqs), width))
        extra = len(rows)
        for i, eq in enumerate(eqs):
            if eq.total in column:
                matrix[i, column[eq.total]] -= 1.0
            for p in eq.parts:
                if p in column:
                    matrix[i, column[p]] += 1.0
            if eq.remainder:
                matrix[i, extra] = 1.0
                extra += 1
        _, singular, vt = np.linalg.svd(matrix)
        rank = int((singular > 1e-9).sum())
        null_space = vt[rank:]
        for r in sensitive:
            if null_space.shape[0] == 0 or np.allclose(null_space[:, column[r]], 0.0, atol=1e-9):
                pinned.append(r)
    return pinned


def protect_cells(counts: np.ndarray, equations: list[Equation], threshold: int,
                  forced: np.ndarray | None = None) -> np.ndarray:
    """The suppression mask for cells with `counts`, tied together by `equations`.

    `forced` cells are hidden from the start (found by the attacker's check, publication.attack).
    """
    counts = np.nan_to_num(np.asarray(counts, dtype=float))
    hidden = (counts >= 1) & (counts < threshold)
    if forced is not None:
        hidden |= forced
    components = _components(len(counts), equations)
    by_row: dict[int, list[Equation]] = {}
    for eq in equations:
        for r in (eq.total, *eq.parts):
            by_row.setdefault(r, []).append(eq)
    component_rows: dict[int, np.ndarray] = {}
    for component in components:
        rows = np.array(sorted({r for i in component for r in (equations[i].total, *equations[i].parts)}))
        for r in rows:
            component_rows[int(r)] = rows
    while True:
        while _apply_rules(counts, hidden, equations):
            pass
        pinned = _determined(counts, hidden, equations, components, threshold)
        if not pinned:
            return hidden
        # Hide the smallest shown part of an equation the first pinned cell is in.
        for eq in by_row.get(pinned[0], []):
            parts = np.fromiter(eq.parts, dtype=np.int64)
            candidates = parts[~hidden[parts] & (counts[parts] > 0)]
            if len(candidates):
                hidden[candidates[np.argmin(counts[candidates])]] = True
                break
            if not hidden[eq.total] and counts[eq.total] > 0:
                hidden[eq.total] = True
                break
        else:
            # Its own equations have nothing left to hide: the values pinning it are elsewhere in the block.
            rows = component_rows[pinned[0]]
            candidates = rows[~hidden[rows] & (counts[rows] > 0)]
            if not len(candidates):
                raise RuntimeError("disclosure control could not protect a cell; refusing to publish")
            hidden[candidates[np.argmin(counts[candidates])]] = True


def protect(df: pd.DataFrame, *, count: str, keys: list[str], margins: list[Margin], threshold: int,
            forced: np.ndarray | None = None) -> np.ndarray:
    """Protect one table on its own margins (row positions of `df`)."""
    df = df.reset_index(drop=True)
    return protect_cells(df[count].to_numpy(), margin_equations(df, keys, margins), threshold, forced)


def apply(df: pd.DataFrame, hidden: np.ndarray, nulled: list[str]) -> pd.DataFrame:
    """Null the suppressed cells' values and set their status."""
    out = df.copy()
    for column in nulled:
        out[column] = out[column].mask(hidden)
    out["status"] = np.where(hidden, SUPPRESSED, SHOWN)
    return out
