"""The attacker's audit: what an outside analyst can derive about each count a reader cannot see.

An independent implementation of the attack, written from what docs/analysts.md
tells a reader, not from the protector's masks, equations or noise (it imports nothing from
publication.disclosure, publication.protect or publication.ckm). It reads only the published
tables (`attack_file`) and takes as unknown every true count a reader does not see exactly:

- under **suppression**, every hidden count (`status = '..'`); a shown count is exact;
- in a table the `publication` table lists as **perturbed** (the Cell Key Method), every
  count, known only to lie within D of its published value (and to be at least 1 where the
  published value is not 0, since 0 is never perturbed); a withheld row's (`..`) count was
  perturbed below the threshold, so it lies in [0, D];

and writes down every relation a reader knows:

- **margins** (docs: "Status, suppression and what is hidden"): the parts add up to
  the total along each margin of `publication.spec` (kön to T, federations to RIKET,
  insatser and supports to `alla`). In the survey tables T also holds the unpublished
  "annat eller vill ej uppge" group: T − K − M is an unknown of its own, ≥ 0. Where a
  perturbed register table may leave a part out (its count was perturbed to 0), the
  parts add up to at most the total;
- **shared cells across tables**: where an indicator has one question in a
  questionnaire, a trend cell counts the same people as the result cells of the
  federations that report as its federation (`federations.reporting_federation_code`);
- **n ≤ rows received**: a result's `n` is at most the questionnaires the federation
  sent in that period (`collection_status.rows_received`);
- **follow-up points**: in `indicator11_outcomes` a cell's `cohort_size` is the same at
  every follow-up point, `n_observed` is at most `cohort_size`, and equals it at a point
  that is complete (`is_complete`); nothing else orders the points (left censoring lets
  `n_observed` grow from one point to the next);
- **unpublished remainders**: `gender_analysis.participants` minus the `cohort_size` of the
  same cohort, federation, insats and kön (the anonymous records) is an unknown of its own, ≥ 0;
- **non-negativity** of every count; and **perturbation**: the bounds above.

For every unknown it computes the tightest interval [min, max] by linear programming
(HiGHS through scipy.optimize.linprog), one small LP per connected component of the
relations. A *finding* is an unknown whose interval holds no integer outside
[1, threshold − 1]: it is known to be a small positive count (that includes being
determined exactly at such a value).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, hstack, vstack

from core.swedish import SUPPRESSED
from publication.reader import PublishedDatabase
from publication.spec import CKM_LARGEST_CHANGE, PUBLISHED

# The counts of people an attacker reasons about, per protected table: the one its margins add up in,
# and in indicator11_outcomes also the cohort's size, which the follow-up points and the anonymous records
# relate to. ATTACKED_COUNT is the first of each (the protector hides by it).
ATTACKED = {t.name: [t.margin_count] + (["cohort_size"] if t.name == "indicator11_outcomes" else [])
            for t in PUBLISHED if t.protected}
ATTACKED_COUNT = {name: columns[0] for name, columns in ATTACKED.items()}
# Register tables have no row for a group with nobody in it; perturbed, a row whose count became 0 is left out too.
ROWS_MAY_BE_LEFT_OUT = {"indicator11_outcomes", "gender_analysis", "support_transitions"}
TOLERANCE = 1e-6
CAP_FACTOR = 1000


@dataclass(slots=True)
class Unknown:
    table: str
    row: int | None  # row position in the table; None for a remainder
    label: str
    low: float = 0.0
    high: float = math.inf  # what the publication alone says: a perturbed count's bounds, else none


@dataclass(slots=True)
class Relation:
    name: str
    coefficients: dict[int, float]  # unknown -> coefficient
    constant: float  # sum(coefficient * x) + constant  (== 0 or <= 0)
    equality: bool
    shown: list[tuple[str, int]] = field(default_factory=list)  # published cells it uses


@dataclass
class Finding:
    table: str
    row: int | None
    label: str
    low: float
    high: float
    relations: list[str]
    shown: list[tuple[str, int]]  # published cells in the relations that pin it
    # Where its own relations use no published cell: those of the nearest relations that use one
    # (one hidden cell further out, then two, ...) and pin hardest (_further).
    further: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class AttackReport:
    findings: list[Finding]
    checked: dict[str, int]  # table -> unknowns whose interval was computed
    seconds: dict[str, float]  # table -> seconds of LP spent on its unknowns
    components: int
    lps: int


class InconsistentPublication(RuntimeError):
    """A relation the docs promise does not hold among the published values."""


class _Model:
    def __init__(self, tables: dict[str, pd.DataFrame], perturbed: frozenset[str] = frozenset()):
        self.tables = tables
        self.perturbed = perturbed
        self.unknowns: list[Unknown] = []
        self.relations: list[Relation] = []
        self.cell: dict[tuple[str, int, str], int] = {}  # (table, row, column) -> unknown
        self.values: dict[tuple[str, str], np.ndarray] = {}  # (table, column) -> published values (0 if null)
        for name, columns in ATTACKED.items():
            df = tables.get(name)
            if df is None:
                continue
            hidden = (df["status"] == SUPPRESSED).to_numpy()
            for column in columns:
                values = df[column].to_numpy(dtype=float, na_value=np.nan)
                self.values[(name, column)] = np.nan_to_num(values)
                if name in perturbed:  # every true count is unknown, within D of what is published
                    for row, value in enumerate(values):
                        low, high = _perturbed_bounds(value, hidden[row])
                        self.cell[(name, row, column)] = self._unknown(name, row, f"{name}[{row}].{column}",
                                                                       low, high)
                else:
                    for row in np.flatnonzero(hidden | np.isnan(values)):
                        self.cell[(name, int(row), column)] = self._unknown(name, int(row),
                                                                            f"{name}[{int(row)}].{column}")

    def _unknown(self, table: str, row: int | None, label: str, low: float = 0.0, high: float = math.inf) -> int:
        self.unknowns.append(Unknown(table, row, label, low, high))
        return len(self.unknowns) - 1

    def relate(self, name: str, terms: list[tuple], extra: dict[int, float] | None = None,
               equality: bool = True, column: str | None = None) -> None:
        """sum(coef * count(table, row, column)) + sum(coef * unknown) (== or <=) 0. A term is (table, row,
        coef) or (table, row, coef, column); the column defaults to `column`, else the table's attacked count."""
        coefficients: dict[int, float] = dict(extra or {})
        constant, shown = 0.0, []
        for table, row, coef, *own in terms:
            col = own[0] if own else column or ATTACKED_COUNT[table]
            unknown = self.cell.get((table, row, col))
            if unknown is None:
                constant += coef * self.values[(table, col)][row]
                shown.append((table, row))
            else:
                coefficients[unknown] = coefficients.get(unknown, 0.0) + coef
        coefficients = {k: v for k, v in coefficients.items() if v != 0.0}
        if not coefficients:
            if (abs(constant) > TOLERANCE) if equality else (constant > TOLERANCE):
                raise InconsistentPublication(f"{name}: the published values break it by {constant:g}")
            return
        self.relations.append(Relation(name, coefficients, constant, equality, shown))


def _perturbed_bounds(value: float, withheld: bool) -> tuple[float, float]:
    """A perturbed count's true value as the docs bound it: within D of the published one, at least 1
    where that is not 0 (a true 0 is never perturbed); a withheld row's count was perturbed to 0."""
    if withheld or np.isnan(value) or value <= 0:
        return 0.0, float(CKM_LARGEST_CHANGE)
    return max(1.0, value - CKM_LARGEST_CHANGE), value + CKM_LARGEST_CHANGE


def _margins(model: _Model) -> None:
    for spec in PUBLISHED:
        df = model.tables.get(spec.name)
        if df is None or spec.name not in ATTACKED:
            continue
        # Parts a perturbed register table left out count too, and a cohort's size counts at points where it
        # has no row (nobody observed there): the present parts add up to at most the total.
        left_out = spec.name in model.perturbed and spec.name in ROWS_MAY_BE_LEFT_OUT
        for margin in spec.margins:
            others = [k for k in spec.keys if k != margin.part]
            is_total = (df[margin.part] == margin.total).to_numpy()
            for key, rows in df.groupby(others, sort=False, dropna=False).indices.items():
                totals = [int(r) for r in rows if is_total[r]]
                parts = [int(r) for r in rows if not is_total[r]]
                if len(totals) != 1 or not parts:
                    continue
                for column in ATTACKED[spec.name]:
                    terms = [(spec.name, totals[0], 1.0)] + [(spec.name, r, -1.0) for r in parts]
                    extra = None
                    if margin.hidden_remainder:
                        label = f"{spec.name}{key}: {margin.total} minus its parts (unpublished '{margin.part}')"
                        extra = {model._unknown(spec.name, None, label): -1.0}
                    if left_out or column == "cohort_size":  # Σ parts − total ≤ 0
                        model.relate(f"{spec.name}: {margin.part} margin of {column} {key}",
                                     [(t, r, -c) for t, r, c in terms], extra, equality=False, column=column)
                    else:
                        model.relate(f"{spec.name}: {margin.part} margin of {column} {key}", terms, extra,
                                     column=column)


def _shared_cells(model: _Model) -> None:
    results, trends, federations = (model.tables.get(t) for t in
                                    ("indicator_results", "indicator_trends", "federations"))
    if results is None or trends is None or federations is None:
        return
    reporting = dict(zip(federations.federation_code, federations.reporting_federation_code, strict=True))
    cell = ["period", "respondent_group", "indicator_id"]
    single = trends[trends.groupby(cell)["comparability_key"].transform("nunique") == 1]
    keyed = results.assign(position=np.arange(len(results)),
                           reporting=[reporting.get(f) or f for f in results.federation_code])
    members = keyed.groupby(cell + ["reporting", "gender"])["position"].apply(list).to_dict()
    for position, key in zip(single.index, single[cell + ["federation_code", "gender"]].itertuples(index=False),
                             strict=True):
        parts = members.get(tuple(key))
        if parts:
            model.relate(f"trend = results {tuple(key)}", [("indicator_trends", int(position), 1.0)]
                         + [("indicator_results", p, -1.0) for p in parts])


def _rows_received(model: _Model) -> None:
    results, status = model.tables.get("indicator_results"), model.tables.get("collection_status")
    if results is None or status is None:
        return
    keys = ["period", "respondent_group", "federation_code"]
    received = {tuple(k): i for i, k in enumerate(status[keys].itertuples(index=False))}
    for position, key in enumerate(results[keys].itertuples(index=False)):
        row = received.get(tuple(key))
        if row is not None:
            model.relate(f"n <= rows received {tuple(key)}",
                         [("indicator_results", position, 1.0), ("collection_status", row, -1.0)], equality=False)


def _followups(model: _Model) -> None:
    """A cell's cohort_size is the same at every point; n_observed ≤ cohort_size, = at a complete point."""
    name = "indicator11_outcomes"
    df = model.tables.get(name)
    if df is None:
        return
    keys = ["cohort_year", "federation_code", "gender", "insats", "support_at_start"]
    complete = df["is_complete"].fillna(False).astype(bool).to_numpy()
    months = df["followup_months"].to_numpy()
    for key, rows in df.groupby(keys, sort=False, dropna=False).indices.items():
        first, *later = (int(r) for r in rows)
        for r in later:
            model.relate(f"cohort_size the same at every point {key}", [(name, r, 1.0), (name, first, -1.0)],
                         column="cohort_size")
        for r in (first, *later):
            sign = "=" if complete[r] else "≤"
            model.relate(f"n_observed {sign} cohort_size at {months[r]} months {key}",
                         [(name, r, 1.0, "n_observed"), (name, r, -1.0, "cohort_size")], equality=bool(complete[r]))


def _anonymous(model: _Model) -> None:
    """participants = cohort_size + the anonymous records, per cohort, federation, insats and kön."""
    outcomes, gender = model.tables.get("indicator11_outcomes"), model.tables.get("gender_analysis")
    if outcomes is None or gender is None:
        return
    keys = ["cohort_year", "federation_code", "insats", "gender"]
    everyone = outcomes[outcomes.support_at_start == "alla"]
    cohort = {tuple(k): int(i) for i, k in zip(everyone.index, everyone[keys].itertuples(index=False),
                                               strict=True)}
    for position, key in enumerate(gender[keys].itertuples(index=False)):
        row = cohort.get(tuple(key))
        if row is None:
            continue
        label = f"gender_analysis{tuple(key)}: participants minus cohort_size (the anonymous records)"
        remainder = model._unknown("gender_analysis", None, label)
        model.relate(f"anonymous remainder {tuple(key)}",
                     [("gender_analysis", position, 1.0, "participants"),
                      ("indicator11_outcomes", row, -1.0, "cohort_size")], {remainder: -1.0})


def _components(model: _Model) -> list[tuple[list[int], list[int]]]:
    parent = list(range(len(model.unknowns)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for relation in model.relations:
        first, *rest = relation.coefficients
        for other in rest:
            parent[find(other)] = find(first)
    unknowns: dict[int, list[int]] = {}
    for u in range(len(model.unknowns)):
        unknowns.setdefault(find(u), []).append(u)
    relations: dict[int, list[int]] = {}
    for i, relation in enumerate(model.relations):
        relations.setdefault(find(next(iter(relation.coefficients))), []).append(i)
    return [(members, relations.get(root, [])) for root, members in unknowns.items()]


def _is_finding(low: float, high: float, threshold: int) -> bool:
    return math.ceil(low - TOLERANCE) >= 1 and math.floor(high + TOLERANCE) <= threshold - 1


def _matrix(relations: list[Relation], local: dict[int, int], size: int):
    if not relations:
        return None, None
    data, rows, cols = [], [], []
    for i, relation in enumerate(relations):
        for u, coef in relation.coefficients.items():
            rows.append(i)
            cols.append(local[u])
            data.append(coef)
    return (csr_matrix((data, (rows, cols)), shape=(len(relations), size)),
            np.array([-r.constant for r in relations]))


def _bounds_problem(model: _Model, relations: list[Relation], local: dict[int, int], threshold: int) -> dict:
    size = len(local)
    a_eq, b_eq = _matrix([r for r in relations if r.equality], local, size)
    a_ub, b_ub = _matrix([r for r in relations if not r.equality], local, size)
    cap = CAP_FACTOR * threshold + sum(abs(r.constant) for r in relations)  # above any true count
    cap += sum(u.low for u in model.unknowns if u.low > 0)  # and above every perturbed count's bounds
    bounds = [(0.0, cap)] * size
    for u, j in local.items():
        unknown = model.unknowns[u]
        bounds[j] = (unknown.low, min(unknown.high, cap))
    return {"A_eq": a_eq, "b_eq": b_eq, "A_ub": a_ub, "b_ub": b_ub, "bounds": bounds, "size": size}


def _solve(problem: dict, objective: np.ndarray, lifted: np.ndarray | None = None, threshold: int = 0):
    """Minimise objective·x over the relations, 0 ≤ x ≤ cap; with `lifted`, maximise Σ min(x_u, threshold)
    over those unknowns instead (an auxiliary y_u ≤ x_u, y_u ≤ threshold for each)."""
    size, a_ub, b_ub, a_eq = problem["size"], problem["A_ub"], problem["b_ub"], problem["A_eq"]
    if lifted is None:
        return linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=problem["b_eq"],
                       bounds=problem["bounds"], method="highs")
    k = len(lifted)
    link = csr_matrix((np.r_[np.ones(k), -np.ones(k)], (np.r_[np.arange(k), np.arange(k)],
                                                        np.r_[size + np.arange(k), lifted])), shape=(k, size + k))
    ub = link if a_ub is None else vstack([hstack([a_ub, csr_matrix((a_ub.shape[0], k))]), link])
    b = np.zeros(k) if b_ub is None else np.r_[b_ub, np.zeros(k)]
    eq = None if a_eq is None else hstack([a_eq, csr_matrix((a_eq.shape[0], k))])
    return linprog(np.r_[np.zeros(size), -np.ones(k)], A_ub=ub, b_ub=b, A_eq=eq, b_eq=problem["b_eq"],
                   bounds=problem["bounds"] + [(0, threshold)] * k, method="highs")


def _sweep(model: _Model, threshold: int) -> tuple[np.ndarray, int]:
    """Unknowns settled safe by some feasible point (x_u = 0 or x_u ≥ threshold), and the LPs it took.

    Every relation at once (the components are independent, so one LP serves them all): first
    minimise Σ x_u over the open unknowns (the cheapest LP, which settles most at 0), then
    maximise Σ min(x_u, threshold) over them and minimise again, while that settles more.
    """
    size = len(model.unknowns)
    # Safe by its bounds alone: it cannot be small and positive (a perturbed count published as 13 or more).
    settled = np.array([u.low >= threshold or u.high < 1 for u in model.unknowns], dtype=bool)
    if not model.relations:
        return settled | np.array([u.low <= 0 or u.high >= threshold for u in model.unknowns], dtype=bool), 0
    problem = _bounds_problem(model, model.relations, {u: u for u in range(size)}, threshold)
    lps = 0

    def seen(result) -> None:
        if result.status == 2:
            raise InconsistentPublication("no values fit the published relations")
        if result.status == 0:
            x = result.x[:size]
            settled[(x >= threshold - TOLERANCE) | (x <= TOLERANCE)] = True

    if not settled.all():
        seen(_solve(problem, (~settled).astype(float)))
        lps += 1
    while not settled.all():
        before = int(settled.sum())
        seen(_solve(problem, np.zeros(size), np.flatnonzero(~settled), threshold))
        lps += 1
        if not settled.all():
            seen(_solve(problem, (~settled).astype(float)))
            lps += 1
        if int(settled.sum()) == before:
            break
    return settled, lps


def _attack_component(model: _Model, members: list[int], relation_ids: list[int], threshold: int,
                      only: list[int]) -> tuple[list[Finding], int]:
    """Each unknown in `only`, of one connected set: its [min, max] by LPs; the findings.

    Its max first: at the threshold or above it is safe, and so is every other open unknown
    that point puts at 0 or at the threshold (the point is feasible); else its min, likewise."""
    size = len(members)
    local = {u: j for j, u in enumerate(members)}
    relations = [model.relations[i] for i in relation_ids]
    problem = _bounds_problem(model, relations, local, threshold)
    found, lps = [], 0
    open_ = {local[u]: u for u in only}

    def safe_at(x: np.ndarray) -> None:
        for j in [j for j in open_ if x[j] >= threshold - TOLERANCE or x[j] <= TOLERANCE]:
            del open_[j]

    while open_:
        j, u = next(iter(open_.items()))
        objective = np.zeros(size)
        objective[j] = -1.0
        high = _solve(problem, objective)
        lps += 1
        if high.status == 2:
            raise InconsistentPublication(f"no values fit the relations around {model.unknowns[u].label}")
        if high.status == 0:
            safe_at(high.x)
            if j not in open_:
                continue
        objective[j] = 1.0
        low = _solve(problem, objective)
        lps += 1
        if low.status == 0:
            safe_at(low.x)
        if j in open_:
            del open_[j]
            if high.status == 0 and low.status == 0 and _is_finding(low.fun, -high.fun, threshold):
                found.append((u, round(float(low.fun), 6), round(float(-high.fun), 6)))
    if not found:
        return [], lps
    by_unknown: dict[int, list[int]] = {}  # relation indices per unknown
    for i, relation in enumerate(relations):
        for x in relation.coefficients:
            by_unknown.setdefault(x, []).append(i)
    findings = []
    for u, low, high in found:
        touching = [relations[i] for i in by_unknown[u]]
        shown = sorted({c for r in touching for c in r.shown})
        findings.append(_finding(model, u, low, high, [r.name for r in touching], shown,
                                 [] if shown else _further(relations, by_unknown, u)))
    return findings, lps


def _finding(model: _Model, u: int, low: float, high: float, relations: list[str], shown: list,
             further: list | None = None) -> Finding:
    unknown = model.unknowns[u]
    return Finding(unknown.table, unknown.row, unknown.label, low, high, relations, shown, further or [])


def _further(relations: list[Relation], by_unknown: dict[int, list[int]], u: int) -> list[tuple[str, int]]:
    """The published cells that pin `u` from further out: ring by ring (the relations one hidden
    unknown further, then two, ...), those of the first ring that uses any, and of its relations
    the ones that pin hardest: equalities before inequalities, then the fewest hidden unknowns."""
    reached, done = {u}, set(by_unknown[u])
    frontier = {x for i in done for x in relations[i].coefficients} - reached
    while frontier:
        reached |= frontier
        ring = {i for x in frontier for i in by_unknown[x]} - done
        done |= ring
        using = [relations[i] for i in ring if relations[i].shown]
        if using:
            tightness = min((not r.equality, len(r.coefficients)) for r in using)
            return sorted({c for r in using if (not r.equality, len(r.coefficients)) == tightness
                           for c in r.shown})
        frontier = {x for i in ring for x in relations[i].coefficients} - reached
    return []


# The relations, by the names docs/analysts.md ("What the audit covers") lists them under
# (a test keeps the two lists the same). Non-negativity is every unknown's lower bound.
RELATIONS = {
    "margins": _margins,
    "shared cells": _shared_cells,
    "rows received": _rows_received,
    "follow-up points": _followups,
    "unpublished remainders": _anonymous,  # "annat" is part of the margins (hidden_remainder)
    "non-negativity": None,
    "perturbation": None,  # a perturbed count's bounds (_perturbed_bounds)
}


def attack_tables(tables: dict[str, pd.DataFrame], threshold: int,
                  perturbed: frozenset[str] = frozenset()) -> AttackReport:
    """Every unseen count's interval from everything published in `tables` (`perturbed`: the tables whose
    counts carry the Cell Key Method's noise); the findings."""
    model = _Model(tables, perturbed)
    for add in RELATIONS.values():
        if add is not None:
            add(model)
    started = time.monotonic()
    settled, lps = _sweep(model, threshold)
    swept = time.monotonic() - started
    findings: list[Finding] = []
    checked: dict[str, int] = {}
    seconds: dict[str, float] = {}
    components = _components(model)
    for unknown in model.unknowns:  # the sweep's time, shared out over the unknowns' tables
        checked[unknown.table] = checked.get(unknown.table, 0) + 1
        seconds[unknown.table] = seconds.get(unknown.table, 0.0) + swept / len(model.unknowns)
    for members, relation_ids in components:
        open_ = [u for u in members if not settled[u]]
        if not open_:
            continue
        if not relation_ids:  # its bounds alone
            findings += [_finding(model, u, model.unknowns[u].low, model.unknowns[u].high, [], [])
                         for u in open_ if _is_finding(model.unknowns[u].low, model.unknowns[u].high, threshold)]
            continue
        started = time.monotonic()
        found, solved = _attack_component(model, members, relation_ids, threshold, only=open_)
        findings += found
        lps += solved
        elapsed = time.monotonic() - started
        for u in open_:
            table = model.unknowns[u].table
            seconds[table] = seconds.get(table, 0.0) + elapsed / len(open_)
    return AttackReport(findings, checked, {t: round(s, 3) for t, s in seconds.items()}, len(components), lps)


def read_published(path: Path) -> tuple[dict[str, pd.DataFrame], frozenset[str]]:
    """The published tables the attack reads, as they are in the file, and which of them are perturbed."""
    db = PublishedDatabase(path)
    try:
        return ({name: db.table_frame(name) for name in [*ATTACKED, "federations"] if db.has(name)},
                db.info.perturbed)
    finally:
        db.close()


def attack_file(path: Path, threshold: int) -> AttackReport:
    tables, perturbed = read_published(path)
    return attack_tables(tables, threshold, perturbed)
