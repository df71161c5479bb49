"""Disclosure control: the one function every published output goes through.

Published cells carry a count of people, and cells are tied together by
*equations* (publication.linked builds them for every protected table at once):
women + men + the unpublished "annat" = all; the federations add up to the
nation; a single-question indicator's trend cell is its result cells; and so on.
Unpublished remainders ("annat", the anonymous records) are rows of their own:
always hidden, and sensitive when small. The rules (docs/analysts.md, "Status,
suppression and what is hidden"):

1. Primary: a count 1 ≤ n < threshold is suppressed.
2. Secondary, per equation: under a shown total, never a single hidden part without
   a remainder; a hidden total over shown parts and no remainder would be their sum,
   so it needs a hidden part; and the sum of the hidden parts and the remainder (what
   a reader derives) is never 1..threshold − 1. A hidden total excuses that sum only
   in an equality or where all its parts and the remainder together are fewer than
   the threshold. The cells are chosen together at minimum loss (publication.secondary);
   whatever the program leaves, greedy repair settles (the smallest shown cell of each
   violated equation).
3. Exact check: each connected block of hidden rows is solved as linear algebra;
   if a small hidden count is still determined, one more cell of its equations is
   hidden (chosen by the next minimum-loss solve). Repeat until nothing changes.
4. The attacker's check (publication.protect.protect_frames): cells the
   attacker's LP audit (publication.attack) can still bound inside
   [1, threshold − 1] are passed back as `forced` and the rules run again.

Suppressed cells get status '..' and every value built on the count is nulled.
`publication.audit.audit` proves the within-table rules over a published database
without access to the hidden values; `publication.attack` bounds every hidden count.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import bmat, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import lsqr

from core.swedish import SUPPRESSED
from publication.secondary import MinimumLoss, loss_weights
from publication.spec import SHOWN, Margin


@dataclass(frozen=True)
class Equation:
    """Row `total` = the sum of rows `parts`, plus row `remainder` (an unpublished count) if there is one."""

    total: int
    parts: tuple[int, ...]
    remainder: int | None = None

    @property
    def rows(self) -> tuple[int, ...]:
        return (self.total, *self.parts, *(() if self.remainder is None else (self.remainder,)))


class LinkedSystem:
    """Counts tied together by equations, protected as one system.

    Rows are the published cells of every table added (`add_table`), then the unpublished
    remainders (`add_remainder`): counts a reader can only derive, such as "annat" (T − K − M)
    or the anonymous records, which are hidden by nature and sensitive when small.
    """

    def __init__(self):
        self.counts: list[float] = []
        self.weights: list[float] = []  # the loss of hiding a row (publication.secondary.loss_weights)
        self.unpublished: list[int] = []
        self.equations: list[Equation] = []

    def add_table(self, counts) -> int:
        """Append a table's cells; returns the row of its first cell."""
        offset = len(self.counts)
        counts = np.nan_to_num(np.asarray(counts, dtype=float))
        self.counts.extend(counts)
        self.weights.extend(loss_weights(counts))
        return offset

    def add_remainder(self, value: float) -> int:
        self.counts.append(max(0.0, float(np.nan_to_num(value))))
        self.weights.append(0.0)
        self.unpublished.append(len(self.counts) - 1)
        return self.unpublished[-1]

    def add(self, total: int, parts, remainder: int | None = None) -> None:
        self.equations.append(Equation(int(total), tuple(int(p) for p in parts), remainder))

    def add_margins(self, df: pd.DataFrame, keys: list[str], margins: list[Margin], offset: int,
                    additive: np.ndarray) -> None:
        """A table's margins; `additive` is the count the parts add up in (for the remainders' values)."""
        for margin in margins:
            others = [k for k in keys if k != margin.part]
            is_total = (df[margin.part] == margin.total).to_numpy()
            for rows in df.groupby(others, sort=False, dropna=False).indices.values():
                totals = [int(r) for r in rows if is_total[r]]
                parts = [int(r) for r in rows if not is_total[r]]
                if len(totals) != 1 or not parts:
                    continue
                remainder = None
                if margin.hidden_remainder:
                    remainder = self.add_remainder(additive[totals[0]] - np.nansum(additive[parts]))
                self.add(totals[0] + offset, [p + offset for p in parts], remainder)

    def protect(self, threshold: int, forced: np.ndarray | None = None, minimum_loss: bool = True) -> np.ndarray:
        """The hidden mask over every row (the unpublished remainders are always hidden).

        Secondary cells by minimum loss, or with `minimum_loss=False` by greedy repair alone."""
        return protect_cells(np.array(self.counts), self.equations, threshold, forced, self.unpublished,
                             np.array(self.weights) if minimum_loss else None)


def _hide_smallest(counts: np.ndarray, hidden: np.ndarray, rows, unpublished: np.ndarray) -> int | None:
    """Hide the smallest shown positive count among `rows` (the first, so it is deterministic)."""
    rows = np.asarray(rows, dtype=np.int64)
    candidates = rows[~hidden[rows] & (counts[rows] > 0) & ~unpublished[rows]]
    if not len(candidates):
        return None
    row = int(candidates[np.argmin(counts[candidates])])
    hidden[row] = True
    return row


def _violated(eq: Equation, counts: np.ndarray, hidden: np.ndarray, threshold: int) -> bool:
    """Rule 2 for one equation (the same rule publication.secondary writes as constraints)."""
    parts = np.fromiter(eq.parts, dtype=np.int64)
    hidden_parts = parts[hidden[parts]]
    remainder = 0.0 if eq.remainder is None else counts[eq.remainder]
    # From the total a reader derives the sum of its hidden parts and its remainder.
    small = 1 <= counts[hidden_parts].sum() + remainder < threshold
    if hidden[eq.total]:  # a hidden total over shown parts would be their sum
        if counts[eq.total] > 0 and not len(hidden_parts) and eq.remainder is None:
            return True
        # It stands in for its parts only in an equality, or where all of them are fewer than t.
        stands_in = (len(parts) == 1 and eq.remainder is None
                     or np.minimum(counts[parts], threshold).sum() + remainder < threshold)
        return small and not stands_in
    return (len(hidden_parts) == 1 and eq.remainder is None) or small


def _enforce_rules(equations: list[Equation], by_row: dict[int, list[int]], counts: np.ndarray,
                   hidden: np.ndarray, threshold: int, never_shown: np.ndarray, todo) -> None:
    """Rule 2 until it holds everywhere, checking again only the equations a new hidden cell is in."""
    queue = deque(todo)
    queued = set(queue)
    while queue:
        i = queue.popleft()
        queued.discard(i)
        eq = equations[i]
        if not _violated(eq, counts, hidden, threshold):
            continue
        row = _hide_smallest(counts, hidden, eq.parts, never_shown)
        if row is None and not hidden[eq.total] and not never_shown[eq.total]:
            hidden[row := eq.total] = True
        if row is not None:
            for j in by_row[row]:
                if j not in queued:
                    queue.append(j)
                    queued.add(j)


class Incidence:
    """The equations as sparse matrices: which rows each is over, with the sign it gives them."""

    def __init__(self, equations: list[Equation], n_rows: int):
        data, eq_index, row_index = [], [], []
        for i, eq in enumerate(equations):
            for r in eq.rows:
                data.append(-1.0 if r == eq.total else 1.0)
                eq_index.append(i)
                row_index.append(r)
        self.signed = csr_matrix((data, (eq_index, row_index)), shape=(len(equations), n_rows))
        self.members = abs(self.signed).tocsc()

    def blocks(self, hidden: np.ndarray) -> dict[int, np.ndarray]:
        """Equations grouped by the hidden rows they share (shown rows are known constants)."""
        among_hidden = self.members[:, hidden].tocsr()
        graph = bmat([[None, among_hidden], [among_hidden.T, None]])
        _, labels = connected_components(graph, directed=False)
        touching = np.flatnonzero(among_hidden.getnnz(axis=1) > 0)
        order = np.argsort(labels[touching], kind="stable")
        grouped = touching[order]
        _, starts = np.unique(labels[grouped], return_index=True)
        return dict(enumerate(np.split(grouped, starts[1:])))


def _null_space_zero(matrix, tolerance: float = 1e-9) -> np.ndarray:
    """Columns that are zero across the null space of `matrix` (a sparse CSR): the determined unknowns.

    Small blocks by SVD; large ones by projecting random vectors onto the null space (LSQR's
    residual), which is zero at a determined unknown and almost surely not elsewhere.
    """
    _, width = matrix.shape
    if width <= DENSE_LIMIT:
        _, singular, vt = np.linalg.svd(matrix.toarray())
        null_space = vt[int((singular > tolerance).sum()):]
        return np.all(np.abs(null_space) <= tolerance, axis=0) if len(null_space) else np.ones(width, bool)
    generator = np.random.default_rng(width)
    zero = np.ones(width, dtype=bool)
    for _ in range(2):
        w = generator.standard_normal(width)
        y = lsqr(matrix.T, w, atol=1e-14, btol=1e-14, iter_lim=20 * width)[0]
        zero &= np.abs(w - matrix.T @ y) <= 1e-6
    return zero


DENSE_LIMIT = 400


def _determined(incidence: Incidence, counts, hidden, blocks, threshold, checked) -> list[list[int]]:
    """Per connected block of hidden rows, the small hidden counts the equations pin down.

    `checked` remembers blocks found clean (by their hidden rows), so a block is solved again
    only after it changed.
    """
    pinned = []
    for eqs in blocks.values():
        sub = incidence.signed[eqs]
        rows = np.unique(sub.indices)
        rows = rows[hidden[rows]]
        key = rows.tobytes()
        if key in checked:
            continue
        sensitive = (counts[rows] >= 1) & (counts[rows] < threshold)
        if sensitive.any():
            zero = _null_space_zero(sub[:, rows])
            if (found := rows[sensitive & zero]).size:
                pinned.append([int(r) for r in found])
                continue
        checked.add(key)
    return pinned


MAX_SOLVES = 30  # minimum-loss solves per protection; then greedy repair finishes


def hidden_from_the_start(counts: np.ndarray, threshold: int, unpublished) -> tuple[np.ndarray, np.ndarray]:
    """Rule 1 and the unpublished remainders: the rows hidden before any secondary cell, and the
    rows that are never shown (the remainders)."""
    never_shown = np.zeros(len(counts), dtype=bool)
    never_shown[list(unpublished)] = True
    return (counts >= 1) & (counts < threshold) | never_shown, never_shown


def protect_cells(counts: np.ndarray, equations: list[Equation], threshold: int,
                  forced: np.ndarray | None = None, unpublished=(), weights: np.ndarray | None = None) -> np.ndarray:
    """The suppression mask for cells with `counts`, tied together by `equations`.

    `forced` cells are hidden from the start (found by the attacker's check, publication.attack);
    `unpublished` rows (remainders) are hidden by nature and never chosen to be hidden.
    """
    counts = np.nan_to_num(np.asarray(counts, dtype=float))
    hidden, never_shown = hidden_from_the_start(counts, threshold, unpublished)
    if forced is not None:
        hidden[: len(forced)] |= forced
    by_row: dict[int, list[int]] = {r: [] for r in range(len(counts))}
    for i, eq in enumerate(equations):
        for r in eq.rows:
            by_row[r].append(i)
    incidence = Incidence(equations, len(counts))
    # Secondary cells by minimum loss (publication.secondary); with no weights, by greedy repair alone.
    program = (None if weights is None
               else MinimumLoss(counts, equations, incidence.members, never_shown, threshold, weights))
    fixed = hidden.copy()  # hidden whatever the program chooses: primary, forced, and the greedy repairs
    checked: set[bytes] = set()
    todo, solves = range(len(equations)), 0
    while True:
        if program is not None:
            solved, solves = program.solve(fixed), solves + 1
            todo = sorted(set(todo) | {i for r in np.flatnonzero(solved != hidden) for i in by_row[int(r)]})
            hidden = solved
        before = hidden.copy()
        _enforce_rules(equations, by_row, counts, hidden, threshold, never_shown, todo)  # what the program left
        blocks = incidence.blocks(hidden)
        pinned = _determined(incidence, counts, hidden, blocks, threshold, checked)
        if not pinned:
            return hidden
        if program is not None and solves >= MAX_SOLVES:
            program = None  # from here on, greedy repair around the last solution
        for found in pinned:  # one more hidden cell per block, then the rules and the check again
            near = {r for i in by_row[found[0]] for r in (*equations[i].parts, equations[i].total) if not hidden[r]}
            if program is None or not program.cut(sorted(near)):
                _hide_near(found[0], counts, hidden, by_row, equations, blocks, never_shown)
        fixed |= hidden & ~before
        todo = sorted({i for r in np.flatnonzero(hidden & ~before) for i in by_row[int(r)]})


def _hide_near(row: int, counts, hidden, by_row, equations, blocks, never_shown) -> None:
    """Hide the smallest shown cell of an equation `row` is in, else of its block."""
    for i in by_row[row]:
        if _hide_smallest(counts, hidden, (*equations[i].parts, equations[i].total), never_shown) is not None:
            return
    block = next(eqs for eqs in blocks.values() if set(by_row[row]) & set(eqs.tolist()))
    if _hide_smallest(counts, hidden, sorted({r for i in block for r in equations[i].rows}), never_shown) is None:
        raise RuntimeError("disclosure control could not protect a cell; refusing to publish")


def protect(df: pd.DataFrame, *, count: str, keys: list[str], margins: list[Margin], threshold: int,
            forced: np.ndarray | None = None, minimum_loss: bool = True) -> np.ndarray:
    """Protect one table on its own margins (row positions of `df`)."""
    df = df.reset_index(drop=True)
    system = LinkedSystem()
    system.add_margins(df, keys, margins, system.add_table(df[count]), df[count].to_numpy(dtype=float))
    return system.protect(threshold, forced, minimum_loss)[: len(df)]


def apply(df: pd.DataFrame, hidden: np.ndarray, nulled: list[str]) -> pd.DataFrame:
    """Null the suppressed cells' values and set their status."""
    out = df.copy()
    for column in nulled:
        out[column] = out[column].mask(hidden)
    out["status"] = np.where(hidden, SUPPRESSED, SHOWN)
    return out
