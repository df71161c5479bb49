"""Minimum-loss secondary suppression: the shown cells to hide, chosen together.

Rule 2 of publication.disclosure (docs/analysts.md, "Status, suppression and what is
hidden") says which hidden patterns are safe along each equation. Greedy repair hides
the smallest cell of each violated equation in turn, and one choice forces the next.
Here the rule is written as linear constraints over a 0/1 unknown per publishable cell
(1 = hidden; primary and forced cells are fixed at 1, cells with a count of 0 at 0),
and the cells are chosen by an integer program (HiGHS through scipy.optimize.milp), one
per connected set of equations, at minimum *loss* (`loss_weights`, set per table by
LinkedSystem.add_table):

    loss of a cell = (1 + its count / the table's total count) / the table's cells

Summed over the cells hidden, the first term is the share of each table's cells that is
hidden, added up over the tables: a cell of a small table weighs more than a cell of a
large one, so no table pays for the others. The second term is below one cell per
table and breaks ties: of two patterns with as many cells, the one hiding fewer people
(in particular, not a national total).

For an equation total = Σ parts (+ an unpublished remainder R), with h the 0/1 hidden
flags and c = min(count, t):

- a hidden total over parts alone needs a hidden part:   Σ h_p ≥ h_total
- no remainder, total shown: never one hidden part:      Σ_{q≠p} h_q + h_total ≥ h_p
- the derived sum Σ c_p·h_p + c_R is 0 or at least t; it is at least 1 once a part
  with a count ≥ 1 is hidden, or R ≥ 1, so for each such part p (and once for R ≥ 1):
                                                          Σ c_q·h_q + c_R + e·t·h_total ≥ t·h_p  (or ≥ t)
  where e = 1 (the hidden total stands in) only in an equality (one part, no
  remainder) or where Σ c_p + c_R < t; elsewhere e = 0, because a hidden total can be
  narrowed through its other margins, and the derived sum with it.

The exact check (publication.disclosure, step 3) sees what these constraints do not
(combinations of equations): a small count it finds determined becomes a cut, "hide one
more of the shown cells in its equations", and its set is solved again. The attacker's
check (step 4) runs on the result. A set the solver cannot settle within NODE_LIMIT
branch-and-bound nodes keeps the best pattern found; one it cannot make feasible is
left to the greedy repair.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix, vstack
from scipy.sparse.csgraph import connected_components

# Deterministic limits (a time limit would make the pattern depend on the machine).
NODE_LIMIT = 2_000
MIP_GAP = 0.01
TIME_LIMIT = 600.0  # a safety net only; never reached on the profiles benchmarked


def loss_weights(counts: np.ndarray) -> np.ndarray:
    """The loss of hiding each cell of one table (module docstring)."""
    counts = np.maximum(np.nan_to_num(np.asarray(counts, dtype=float)), 0.0)
    return (1.0 + counts / max(counts.sum(), 1.0)) / max(len(counts), 1)


class _Constraints:
    """Rows of `Σ coefficient·h ≥ bound` over the cells that can be hidden (unpublished rows are constants 1)."""

    def __init__(self, column: np.ndarray):
        self.column = column  # row -> column of its unknown, or -1 for an unpublished row (always hidden)
        self.rows: list[int] = []
        self.columns: list[int] = []
        self.values: list[float] = []
        self.bounds: list[float] = []

    def add(self, terms: list[tuple[int, float]], bound: float) -> None:
        """Σ coefficient·h_row ≥ bound; dropped when it holds whatever is hidden."""
        unknown: dict[int, float] = {}
        for row, coefficient in terms:
            if (column := self.column[row]) >= 0:
                unknown[column] = unknown.get(column, 0.0) + coefficient
            else:
                bound -= coefficient
        unknown = {c: v for c, v in unknown.items() if v}
        if sum(min(v, 0.0) for v in unknown.values()) >= bound - 1e-9:
            return
        index = len(self.bounds)
        self.rows.extend([index] * len(unknown))
        self.columns.extend(unknown)
        self.values.extend(unknown.values())
        self.bounds.append(bound)

    def matrix(self, width: int) -> csr_matrix:
        return coo_matrix((self.values, (self.rows, self.columns)), shape=(len(self.bounds), width)).tocsr()


def _rule_two(equations, counts: np.ndarray, constraints: _Constraints, threshold: int) -> None:
    capped = np.minimum(counts, threshold)
    for eq in equations:
        parts = list(eq.parts)
        remainder = 0.0 if eq.remainder is None else float(capped[eq.remainder])
        # A hidden total stands in for its parts only in an equality, or where all of them are
        # fewer than t; elsewhere it is narrowed through its other margins, the derived sum with it.
        stands_in = len(parts) == 1 and eq.remainder is None or capped[parts].sum() + remainder < threshold
        escape = [(eq.total, float(threshold))] if stands_in else []
        if eq.remainder is None:
            if counts[eq.total] > 0:
                constraints.add([(p, 1.0) for p in parts] + [(eq.total, -1.0)], 0.0)
            for p in parts:  # never one hidden part alone under a shown total
                constraints.add([(q, 1.0) for q in parts if q != p] + [(eq.total, 1.0), (p, -1.0)], 0.0)
        derived = [(q, float(capped[q])) for q in parts if capped[q] > 0] + escape
        for p in parts:
            if counts[p] >= 1:
                constraints.add(derived + [(p, -float(threshold))], -remainder)
        if remainder >= 1:
            constraints.add(derived, threshold - remainder)


class MinimumLoss:
    """Rule 2 as an integer program over every publishable cell, built once and solved per connected set.

    `solve(fixed)` hides the `fixed` cells (primary, forced, or added by a repair) and the
    secondary cells of least loss. `cut(rows)` asks every later solve to hide one more of
    `rows` (the exact check's answer to a determined cell); a set is solved again only
    when its fixed cells or its cuts changed.
    """

    def __init__(self, counts: np.ndarray, equations, members, never_shown: np.ndarray, threshold: int,
                 weights: np.ndarray):
        """`members`: which rows each equation is over (sparse, equations × rows; disclosure.Incidence)."""
        self.counts = counts
        self.rows = np.flatnonzero(~never_shown)  # column -> row
        self.column = np.full(len(counts), -1, dtype=np.int64)
        self.column[self.rows] = np.arange(len(self.rows))
        constraints = _Constraints(self.column)
        _rule_two(equations, counts, constraints, threshold)
        self.matrix = constraints.matrix(len(self.rows))
        self.bounds = np.asarray(constraints.bounds)
        self.cost = weights[self.rows]
        # Connected sets: cells in a common equation (so a cut over one equation stays in one set).
        over = members[:, self.rows]
        _, self.labels = connected_components((over.T @ over).tocsr(), directed=False)
        firsts = self.matrix.indices[self.matrix.indptr[:-1]] if len(self.bounds) else np.zeros(0, np.int64)
        self.owner = self.labels[firsts]
        self.cuts: dict[int, list[np.ndarray]] = {}
        self.solved: dict[int, tuple[bytes, np.ndarray]] = {}
        self.bounds_proven: dict[int, float] = {}  # per set: no pattern loses less (the solver's dual bound)

    def cut(self, rows) -> bool:
        """Ask for one more of `rows` to be hidden; False if none of them can be."""
        columns = self.column[np.asarray(rows, dtype=np.int64)]
        columns = columns[(columns >= 0) & (self.counts[self.rows[np.maximum(columns, 0)]] > 0)]
        if not len(columns):
            return False
        self.cuts.setdefault(int(self.labels[columns[0]]), []).append(np.unique(columns))
        return True

    def solve(self, fixed: np.ndarray) -> np.ndarray:
        low = fixed[self.rows].astype(float)
        high = np.where(fixed[self.rows] | (self.counts[self.rows] > 0), 1.0, 0.0)
        hidden = fixed.copy()
        unmet = set(self.owner[self.matrix @ low < self.bounds - 1e-9].tolist())
        unmet |= {label for label, cuts in self.cuts.items() if any(low[c].sum() < 1 for c in cuts)}
        for label in sorted(unmet):
            columns = np.flatnonzero(self.labels == label)
            key = low[columns].tobytes() + len(self.cuts.get(label, ())).to_bytes(4, "little")
            if label not in self.solved or self.solved[label][0] != key:
                self.solved[label] = (key, self._solve(label, columns, low[columns], high[columns]))
            chosen = self.solved[label][1]
            if chosen is not None:
                hidden[self.rows[columns[chosen]]] = True
        return hidden

    def _solve(self, label: int, columns: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
        """The 0/1 choice of least loss for one connected set, or None when none is found."""
        rows = np.flatnonzero(self.owner == label)
        matrix, bounds = self.matrix[rows][:, columns], self.bounds[rows]
        if cuts := self.cuts.get(label):
            local = np.full(len(self.rows), -1, dtype=np.int64)
            local[columns] = np.arange(len(columns))
            cut_matrix = coo_matrix((np.ones(sum(len(c) for c in cuts)),
                                     (np.repeat(np.arange(len(cuts)), [len(c) for c in cuts]),
                                      local[np.concatenate(cuts)])), shape=(len(cuts), len(columns)))
            matrix, bounds = vstack([matrix, cut_matrix]).tocsr(), np.r_[bounds, np.ones(len(cuts))]
        outcome = milp(self.cost[columns], constraints=LinearConstraint(matrix, bounds, np.inf),
                       integrality=np.ones(len(columns)), bounds=Bounds(low, high),
                       options={"node_limit": NODE_LIMIT, "mip_rel_gap": MIP_GAP, "time_limit": TIME_LIMIT})
        proven = outcome.mip_dual_bound if outcome.x is not None else None
        self.bounds_proven[label] = float(proven if proven is not None else self.cost[columns] @ low)
        if outcome.x is None:
            return None
        return outcome.x > 0.5
