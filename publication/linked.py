"""Every protected table as one linked system (docs/analysts.md, "Status, suppression and what is hidden").

The relations a reader knows from the docs or the data, written as equations over the
published cells of all tables at once, so that a cell that appears in two tables is
suppressed the same way in both:

- each table's margins (`publication.spec`), with "annat eller vill ej uppge"
  (T − K − M in the survey tables) as an unpublished remainder of its own;
- shared cells: a single-question indicator's trend cell is the result cell of the
  federations that report as its federation;
- follow-up points: at every point where the cohort is complete (`is_complete`), every
  cell's n_observed is its cohort's size, so the same at each such point;
- the anonymous records: gender_analysis.participants = the n_observed of the same
  cohort, federation, insats and kön at a complete point (else at its first point)
  + an unpublished remainder.

The inequalities (n ≤ rows received, n_observed ≤ cohort_size, non-negativity) are not
equations; the attacker's audit (publication.attack) bounds them, and what it finds is
hidden too (publication.protect.protect_frames).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from publication.disclosure import LinkedSystem
from publication.spec import PUBLISHED


def linked_system(frames: dict[str, pd.DataFrame], reporting: dict[str, str]) -> tuple[LinkedSystem,
                                                                                          dict[str, int]]:
    """The system over every protected table in `frames`, and each table's first row in it."""
    system = LinkedSystem()
    offsets = {}
    for table in PUBLISHED:
        if table.protected and table.name in frames:
            df = frames[table.name]
            offsets[table.name] = system.add_table(df[table.count])
            additive = df[table.margin_count].to_numpy(dtype=float)
            system.add_margins(df, table.keys, table.margins, offsets[table.name], additive)
    if {"indicator_results", "indicator_trends"} <= offsets.keys():
        _shared_cells(system, frames, reporting, offsets)
    if "indicator11_outcomes" in offsets:
        _followups(system, frames["indicator11_outcomes"], offsets["indicator11_outcomes"])
        if "gender_analysis" in offsets:
            _anonymous(system, frames, offsets)
    return system, offsets


def _shared_cells(system: LinkedSystem, frames, reporting, offsets) -> None:
    """Equations tying the two tables together, so neither helps undo the other.

    Where an indicator has one question in a questionnaire, a trend cell counts the
    same people as the result cells of the federations that report as its
    federation: the same cell, or (before a merger) the sum of the predecessors.
    """
    results, trends = frames["indicator_results"], frames["indicator_trends"]
    cell = ["period", "respondent_group", "indicator_id"]
    questions = trends.groupby(cell)["comparability_key"].transform("nunique")
    single = trends[questions == 1]
    keyed = results.assign(position=np.arange(len(results)),
                           reporting=results.federation_code.map(lambda f: reporting.get(f, f)))
    parts = keyed.groupby(cell + ["reporting", "gender"])["position"].apply(tuple)
    for position, row in zip(single.index, single[cell + ["federation_code", "gender"]].itertuples(index=False),
                             strict=True):
        members = parts.get(tuple(row))
        if members:
            system.add(offsets["indicator_trends"] + int(position), [offsets["indicator_results"] + m for m in members])


def _followups(system: LinkedSystem, df: pd.DataFrame, offset: int) -> None:
    """At every point where the cohort is complete (`is_complete`), a cell's n_observed is its cohort's
    size: the same at each such point."""
    keys = ["cohort_year", "federation_code", "gender", "insats", "support_at_start"]
    complete = df[df["is_complete"].fillna(False).astype(bool)]
    for rows in complete.groupby(keys, sort=False, dropna=False).indices.values():
        first, *later = (int(complete.index[r]) for r in rows)
        for row in later:
            system.add(offset + row, [offset + first])


def _anonymous(system: LinkedSystem, frames, offsets) -> None:
    outcomes, gender = frames["indicator11_outcomes"], frames["gender_analysis"]
    keys = ["cohort_year", "federation_code", "insats", "gender"]
    # Each cell's count at a complete point (its cohort's size, so the remainder is the anonymous records),
    # else at its first point (the anonymous records and those not yet observed).
    everyone = outcomes[outcomes.support_at_start == "alla"].assign(
        order=lambda d: np.where(d["is_complete"].fillna(False).astype(bool), 0, 1), point=lambda d: d.followup_months)
    chosen = everyone.sort_values(["order", "point"]).drop_duplicates(keys)
    base = {tuple(k): int(i) for i, k in zip(chosen.index, chosen[keys].itertuples(index=False), strict=True)}
    observed = outcomes.n_observed.to_numpy(dtype=float)
    participants = gender.participants.to_numpy(dtype=float)
    for i, key in enumerate(gender[keys].itertuples(index=False)):
        if (row := base.get(tuple(key))) is not None:
            remainder = system.add_remainder(participants[i] - np.nan_to_num(observed[row]))
            system.add(offsets["gender_analysis"] + i, [offsets["indicator11_outcomes"] + row], remainder)


def split(hidden: np.ndarray, frames: dict[str, pd.DataFrame], offsets: dict[str, int]) -> dict[str, np.ndarray]:
    """The system's mask, per table."""
    return {name: hidden[offset: offset + len(frames[name])] for name, offset in offsets.items()}
