"""Disclosure control: the one function every published output goes through.

A published table is a set of cells, each with a count `n` of people. Cells add
up along *margins*: women + men (+ the unpublished "annat") = all (gender T),
and the federations add up to the nation (RIKET). The rules:

1. Primary: a count 1 ≤ n < threshold is suppressed.
2. Secondary: along every margin whose total is shown, never exactly one hidden
   part (it would be the total minus the visible parts); a hidden total needs a
   hidden part (or it would be the sum of the parts).
3. Exact check: within each block of linked cells, the margin equations are
   solved as linear algebra; if any small hidden count is still determined,
   one more cell is hidden. Repeat until nothing changes.

Suppressed cells get status '..' and every value derived from the count is
nulled (the Swedish statistical convention). `audit()` proves the rules over a
whole published database without access to the hidden values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SUPPRESSED = ".."
SHOWN = "ok"


@dataclass(frozen=True)
class Margin:
    part: str  # the column whose values are the parts, e.g. "gender"
    total: str  # the value of `part` that holds the total, e.g. "T"
    hidden_remainder: bool = False  # the total also includes a part never published ("annat")


def _group_ids(df: pd.DataFrame, keys: list[str], margin: Margin) -> np.ndarray:
    others = [k for k in keys if k != margin.part]
    return df.groupby(others, sort=False, dropna=False).ngroup().to_numpy()


def _apply_margin_rules(df, counts, hidden, keys, margins) -> bool:
    """Rules 2a/2b for every margin; returns True if anything was hidden."""
    changed = False
    for margin in margins:
        gid = _group_ids(df, keys, margin)
        is_total = (df[margin.part] == margin.total).to_numpy()
        frame = pd.DataFrame({"gid": gid, "total": is_total, "hidden": hidden, "n": counts,
                              "row": np.arange(len(df))})
        parts = frame[~frame.total]
        totals = frame[frame.total].set_index("gid")
        hidden_parts = parts.groupby("gid")["hidden"].sum()
        for g, total in totals.iterrows():
            n_hidden = int(hidden_parts.get(g, 0))
            lone_part = not total.hidden and n_hidden == 1  # it would be the total minus the rest
            # A hidden total would be the sum of the visible parts (unless a part is never published).
            summed_total = total.hidden and total.n > 0 and n_hidden == 0 and not margin.hidden_remainder
            if not (lone_part or summed_total):
                continue
            candidates = parts[(parts.gid == g) & ~parts.hidden & (parts.n > 0)].sort_values(["n", "row"])
            if len(candidates):
                hidden[int(candidates.row.iloc[0])] = True
            elif not total.hidden:
                hidden[int(total.row)] = True
            else:
                continue
            changed = True
    return changed


def _determined(df, counts, hidden, keys, margins, threshold) -> list[int]:
    """Rows of small hidden counts that the margin equations still pin down."""
    parts_cols = {m.part for m in margins}
    block_keys = [k for k in keys if k not in parts_cols]
    found = []
    blocks = df.groupby(block_keys, sort=False, dropna=False).indices if block_keys else {None: np.arange(len(df))}
    for rows in blocks.values():
        rows = np.asarray(rows)
        hidden_rows = rows[hidden[rows]]
        sensitive = [r for r in hidden_rows if 1 <= counts[r] < threshold]
        if not sensitive:
            continue
        unknown = {int(r): i for i, r in enumerate(hidden_rows)}
        equations = []
        extra = len(unknown)
        sub = df.iloc[rows]
        for margin in margins:
            gid = _group_ids(sub, keys, margin)
            is_total = (sub[margin.part] == margin.total).to_numpy()
            for g in np.unique(gid):
                members = rows[gid == g]
                totals = members[is_total[gid == g]]
                if len(totals) != 1:
                    continue
                coefficients = {}
                for r in members:
                    if int(r) in unknown:
                        coefficients[unknown[int(r)]] = -1.0 if r == totals[0] else 1.0
                if margin.hidden_remainder:
                    coefficients[extra] = 1.0  # the never-published part is unknown too
                    extra += 1
                if coefficients:
                    equations.append(coefficients)
        if not equations:
            continue
        matrix = np.zeros((len(equations), extra))
        for i, coefficients in enumerate(equations):
            for j, value in coefficients.items():
                matrix[i, j] = value
        rank = np.linalg.matrix_rank(matrix)
        for r in sensitive:
            probe = np.zeros((1, extra))
            probe[0, unknown[int(r)]] = 1.0
            if np.linalg.matrix_rank(np.vstack([matrix, probe])) == rank:
                found.append(int(r))
    return found


def protect(df: pd.DataFrame, *, count: str, keys: list[str], margins: list[Margin],
            threshold: int, forced: np.ndarray | None = None) -> np.ndarray:
    """Return a boolean mask of the cells to suppress in `df` (one row per cell)."""
    counts = df[count].fillna(0).to_numpy()
    hidden = (counts >= 1) & (counts < threshold)
    if forced is not None:
        hidden |= forced
    while True:
        while _apply_margin_rules(df, counts, hidden, keys, margins):
            pass
        pinned = _determined(df, counts, hidden, keys, margins, threshold)
        if not pinned:
            return hidden
        # Hide the smallest visible part sharing a margin with the first pinned cell.
        row = pinned[0]
        for margin in margins:
            others = [k for k in keys if k != margin.part]
            same = (df[others] == df.iloc[row][others]).all(axis=1).to_numpy()
            candidates = np.where(same & ~hidden & (counts > 0) & (df[margin.part] != margin.total).to_numpy())[0]
            if len(candidates):
                hidden[candidates[np.argmin(counts[candidates])]] = True
                break
        else:
            raise RuntimeError("disclosure control could not protect a cell; refusing to publish")


def apply(df: pd.DataFrame, hidden: np.ndarray, nulled: list[str]) -> pd.DataFrame:
    """Null the suppressed cells' values and set their status."""
    out = df.copy()
    for column in nulled:
        out[column] = out[column].astype("object").where(~hidden, None) if out[column].dtype == object \
            else out[column].mask(hidden)
    out["status"] = np.where(hidden, SUPPRESSED, SHOWN)
    return out
