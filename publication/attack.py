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

A component's findings depend on nothing but its LP: its unknowns (labels and bounds), its
relations (coefficients, constants, the shown cells they use) and the threshold. Given the
answers of an earlier audit by the same code (`known`: a digest of all that → its findings),
a component with the same digest takes that answer without solving (`component_key`); a
night that changed one federation's survey rows solves only the components those rows touch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, hstack, vstack

from core.catalogue import NATION
from core.files import atomic_write_json
from core.swedish import SUPPRESSED
from publication.reader import PublishedDatabase
from publication.spec import CKM_LARGEST_CHANGE, COUNT_COLUMNS, PUBLISHED

# Every count of people a protected table publishes, the one its margins add up in first (ATTACKED_COUNT:
# the protector hides by it). Each is an unknown wherever a reader does not see it exactly.
ATTACKED = {t.name: [t.margin_count] + [c for c in t.columns if c in COUNT_COLUMNS and c != t.margin_count]
            for t in PUBLISHED if t.protected}
ATTACKED_COUNT = {name: columns[0] for name, columns in ATTACKED.items()}
# Within a row, one count is part of another (docs/analysts.md, "What the audit covers"): (part, whole).
WITHIN_A_ROW = {
    "indicator_results": [("n", "valid_answers")],
    "indicator_trends": [("n", "valid_answers")],
    "collection_status": [("answered", "asked")],
    "collection_summary": [("answered", "asked")],
    "indicator11_outcomes": [("n_sustainable", "n_self_supporting"), ("n_self_supporting", "n_observed")],
    "gender_analysis": [("n_work_or_studies", "participants")],
}
# Register tables have no row for a group with nobody in it; perturbed, a row whose count became 0 is left out too.
ROWS_MAY_BE_LEFT_OUT = {"indicator11_outcomes", "gender_analysis", "support_transitions"}
TOLERANCE = 1e-6
log = logging.getLogger(__name__)
CAP_FACTOR = 1000
# HiGHS's method, by measurement on national: on a set of perturbed counts (each boxed within D of what is
# published) the dual simplex (18 s for the whole audit, against 26 s); on suppression's hidden counts (no
# box) the interior point method (3.5 s against 28 s on the largest set).
BOXED, UNBOXED = "highs-ds", "highs-ipm"


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
    pinning: list[list[tuple[str, int]]] = field(default_factory=list)  # the shown cells of each own relation


@dataclass
class AttackReport:
    findings: list[Finding]
    checked: dict[str, int]  # table -> unknowns whose interval was computed
    seconds: dict[str, float]  # table -> seconds of LP spent on its unknowns
    components: int
    lps: int
    safe: frozenset[str] = frozenset()  # labels of the unknowns proven safe
    reused: dict[str, int] = field(default_factory=dict)  # table -> unknowns answered by `known` (not solved)
    answers: dict[str, list[dict]] = field(default_factory=dict)  # component digest -> its findings, for `known`


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
        for name in ATTACKED:
            df = tables.get(name)
            if df is None:
                continue
            hidden = (df["status"] == SUPPRESSED).to_numpy()
            for column in self.columns_of(name):
                values = df[column].to_numpy(dtype=float, na_value=np.nan)
                self.values[(name, column)] = np.nan_to_num(values)
                if name in perturbed:  # every true count is unknown, within D of what is published
                    # A withheld row's count of people was perturbed below the threshold; its other counts
                    # (answers, asked) are unknown but for the relations.
                    deciding = column == ATTACKED_COUNT[name]
                    for row, value in enumerate(values):
                        low, high = (_perturbed_bounds(value, hidden[row]) if deciding or not hidden[row]
                                     else (0.0, math.inf))
                        self.cell[(name, row, column)] = self._unknown(name, row, f"{name}[{row}].{column}",
                                                                       low, high)
                else:
                    for row in np.flatnonzero(hidden | np.isnan(values)):
                        self.cell[(name, int(row), column)] = self._unknown(name, int(row),
                                                                            f"{name}[{int(row)}].{column}")

    def columns_of(self, table: str) -> list[str]:
        """The table's attacked counts it holds (a table read from an older file may lack one)."""
        df = self.tables.get(table)
        return [] if df is None else [c for c in ATTACKED.get(table, []) if c in df.columns]

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
                for column in model.columns_of(spec.name):
                    terms = [(spec.name, totals[0], 1.0)] + [(spec.name, r, -1.0) for r in parts]
                    extra = None
                    if margin.hidden_remainder:
                        label = (f"{spec.name}{key}.{column}: {margin.total} minus its parts "
                                 f"(unpublished '{margin.part}')")
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


def _within_rows(model: _Model) -> None:
    """A part of a row's count is at most that count (a respondent has at least one valid answer, and so on)."""
    for name, pairs in WITHIN_A_ROW.items():
        df = model.tables.get(name)
        if df is None:
            continue
        for part, whole in pairs:
            if not {part, whole} <= set(model.columns_of(name)):
                continue
            for row in range(len(df)):
                model.relate(f"{name}: {part} ≤ {whole}", [(name, row, 1.0, part), (name, row, -1.0, whole)],
                             equality=False)


def _collection_summary(model: _Model) -> None:
    """collection_summary is the nation's rows of collection_status: the same counts."""
    summary, status = model.tables.get("collection_summary"), model.tables.get("collection_status")
    if summary is None or status is None:
        return
    nation = {p: i for i, p in enumerate(zip(status.period, status.respondent_group, status.federation_code,
                                             strict=True)) if p[2] == NATION}
    for position, key in enumerate(zip(summary.period, summary.respondent_group, strict=True)):
        row = nation.get((*key, NATION))
        if row is None:
            continue
        for mine, theirs in (("questionnaires", "rows_received"), ("asked", "asked"), ("answered", "answered")):
            model.relate(f"collection_summary = the nation's collection_status {key}",
                         [("collection_summary", position, 1.0, mine), ("collection_status", row, -1.0, theirs)])


def _followups(model: _Model) -> None:
    """A cell's cohort_size is the same at every point; n_observed ≤ cohort_size, = at a complete point."""
    name = "indicator11_outcomes"
    df = model.tables.get(name)
    if df is None or "cohort_size" not in model.columns_of(name):
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
    if outcomes is None or gender is None or "cohort_size" not in model.columns_of("indicator11_outcomes"):
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
    # Above any true count: the relations' constants and the perturbed counts' bounds of this set.
    cap = CAP_FACTOR * threshold + sum(abs(r.constant) for r in relations)
    cap += sum(model.unknowns[u].high for u in local if model.unknowns[u].high < math.inf)
    bounds = [(0.0, cap)] * size
    for u, j in local.items():
        unknown = model.unknowns[u]
        bounds[j] = (unknown.low, min(unknown.high, cap))
    boxed = any(model.unknowns[u].high < math.inf for u in local)
    return {"A_eq": a_eq, "b_eq": b_eq, "A_ub": a_ub, "b_ub": b_ub, "bounds": bounds, "size": size,
            "method": BOXED if boxed else UNBOXED}


def _solve(problem: dict, objective: np.ndarray, lifted: np.ndarray | None = None, threshold: int = 0):
    """Minimise objective·x over the relations, 0 ≤ x ≤ cap; with `lifted`, maximise Σ min(x_u, threshold)
    over those unknowns instead (an auxiliary y_u ≤ x_u, y_u ≤ threshold for each)."""
    size, a_ub, b_ub, a_eq = problem["size"], problem["A_ub"], problem["b_ub"], problem["A_eq"]
    if lifted is None:
        return linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=problem["b_eq"],
                       bounds=problem["bounds"], method=problem["method"])
    k = len(lifted)
    link = csr_matrix((np.r_[np.ones(k), -np.ones(k)], (np.r_[np.arange(k), np.arange(k)],
                                                        np.r_[size + np.arange(k), lifted])), shape=(k, size + k))
    ub = link if a_ub is None else vstack([hstack([a_ub, csr_matrix((a_ub.shape[0], k))]), link])
    b = np.zeros(k) if b_ub is None else np.r_[b_ub, np.zeros(k)]
    eq = None if a_eq is None else hstack([a_eq, csr_matrix((a_eq.shape[0], k))])
    return linprog(np.r_[np.zeros(size), -np.ones(k)], A_ub=ub, b_ub=b, A_eq=eq, b_eq=problem["b_eq"],
                   bounds=problem["bounds"] + [(0, threshold)] * k, method=problem["method"])


def _true_point(model: _Model, truth: dict[str, pd.DataFrame]) -> np.ndarray | None:
    """The true value of every unknown, from the warehouse's marts (`truth`, each with the published table's
    keys); None where the truth does not fit the model, which would be a relation that does not hold."""
    size = len(model.unknowns)
    x = np.full(size, np.nan)
    spec = {t.name: t for t in PUBLISHED}
    for name in ATTACKED:
        df, true = model.tables.get(name), truth.get(name)
        if df is None or true is None:
            continue
        keys, columns = spec[name].keys, model.columns_of(name)
        aligned = df[keys].merge(true[keys + columns].drop_duplicates(keys), on=keys, how="left",
                                 validate="one_to_one")
        for column in columns:
            values = aligned[column].to_numpy(dtype=float, na_value=np.nan)
            for row, value in enumerate(values):
                u = model.cell.get((name, row, column))
                if u is not None:
                    x[u] = value
    # A remainder ("annat", the anonymous records) is what its relation leaves.
    for relation in model.relations:
        missing = [u for u in relation.coefficients if np.isnan(x[u])]
        if len(missing) == 1 and relation.equality and model.unknowns[missing[0]].row is None:
            u = missing[0]
            rest = sum(c * x[v] for v, c in relation.coefficients.items() if v != u)
            x[u] = -(rest + relation.constant) / relation.coefficients[u]
    if np.isnan(x).any():
        log.warning("the attacker's audit: %d unknowns have no true value; proving by linear programming alone",
                    int(np.isnan(x).sum()))
        return None
    lows = np.array([u.low for u in model.unknowns])
    highs = np.array([u.high for u in model.unknowns])
    outside = np.flatnonzero((x < lows - TOLERANCE) | (x > highs + TOLERANCE))
    if len(outside):
        u = model.unknowns[outside[0]]
        log.warning("the attacker's audit: %d true counts lie outside their published bounds, e.g. %s = %g not in "
                    "[%g, %g]; proving by linear programming alone", len(outside), u.label, x[outside[0]], u.low,
                    u.high)
        return None
    for relation in model.relations:
        value = sum(c * x[u] for u, c in relation.coefficients.items()) + relation.constant
        if (abs(value) > TOLERANCE) if relation.equality else (value > TOLERANCE):
            log.warning("the attacker's audit: the true counts break the relation %s by %g; proving by linear "
                        "programming alone", relation.name, value)
            return None
    return x


class _Problem:
    """The LP over one connected set: its unknowns (local index j ↔ model index u) and relations."""

    def __init__(self, model: _Model, members: list[int], relation_ids: list[int], threshold: int):
        self.model, self.members, self.threshold = model, members, threshold
        self.local = {u: j for j, u in enumerate(members)}
        self.relations = [model.relations[i] for i in relation_ids]
        self.lp = _bounds_problem(model, self.relations, self.local, threshold)
        self.lps = 0

    def solve(self, objective: np.ndarray, lifted: np.ndarray | None = None):
        self.lps += 1
        result = _solve(self.lp, objective, lifted, self.threshold)
        if result.status == 2:
            raise InconsistentPublication(
                f"no values fit the relations around {self.model.unknowns[self.members[0]].label}")
        return result


def _safe_at(open_: dict[int, int], result, threshold: int) -> None:
    """Drop from `open_` every unknown the LP's point puts at 0 or at the threshold or above."""
    if result.status == 0:
        x = result.x
        for j in [j for j in open_ if x[j] >= threshold - TOLERANCE or x[j] <= TOLERANCE]:
            del open_[j]


def _settle(problem: _Problem, only: list[int]) -> list[int]:
    """Of the unknowns in `only`, those no point that settles many at once proves safe. An unknown is safe
    as soon as some feasible point puts it at 0 or at the threshold or above (it can then not be confined
    inside 1 to t − 1): minimise the sum of the open unknowns (most can be 0), then maximise
    Σ min(x_u, threshold) over the rest, while that settles more."""
    size, threshold = len(problem.members), problem.threshold
    open_ = {problem.local[u]: u for u in only}
    while open_:
        before = len(open_)
        objective = np.zeros(size)
        objective[list(open_)] = 1.0
        _safe_at(open_, problem.solve(objective), threshold)
        if open_:
            _safe_at(open_, problem.solve(np.zeros(size), np.array(list(open_), dtype=np.int64)), threshold)
        if len(open_) == before:
            break
    return list(open_.values())


def _exact(problem: _Problem, only: list[int]) -> list[Finding]:
    """The exact [min, max] of each unknown in `only`, max first, each LP's point settling others too;
    the findings among them."""
    size, threshold, model = len(problem.members), problem.threshold, problem.model
    open_ = {problem.local[u]: u for u in only}
    found = []
    while open_:
        j, u = next(iter(open_.items()))
        objective = np.zeros(size)
        objective[j] = -1.0
        high = problem.solve(objective)
        _safe_at(open_, high, threshold)
        if j not in open_:
            continue
        objective[j] = 1.0
        low = problem.solve(objective)
        _safe_at(open_, low, threshold)
        if j in open_:
            del open_[j]
            if high.status == 0 and low.status == 0 and _is_finding(low.fun, -high.fun, threshold):
                found.append((u, round(float(low.fun), 6), round(float(-high.fun), 6)))
    if not found:
        return []
    relations = problem.relations
    by_unknown: dict[int, list[int]] = {}  # relation indices per unknown
    for i, relation in enumerate(relations):
        for x in relation.coefficients:
            by_unknown.setdefault(x, []).append(i)
    findings = []
    for u, low, high in found:
        touching = [relations[i] for i in by_unknown[u]]
        shown = sorted({c for r in touching for c in r.shown})
        findings.append(_finding(model, u, low, high, [r.name for r in touching], shown,
                                 [] if shown else _further(relations, by_unknown, u),
                                 [sorted(set(r.shown)) for r in touching if r.shown]))
    return findings


def _finding(model: _Model, u: int, low: float, high: float, relations: list[str], shown: list,
             further: list | None = None, pinning: list | None = None) -> Finding:
    unknown = model.unknowns[u]
    return Finding(unknown.table, unknown.row, unknown.label, low, high, relations, shown, further or [],
                   pinning or [])


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
    "within a row": _within_rows,
    "national collection": _collection_summary,
    "rows received": _rows_received,
    "follow-up points": _followups,
    "unpublished remainders": _anonymous,  # "annat" is part of the margins (hidden_remainder)
    "non-negativity": None,
    "perturbation": None,  # a perturbed count's bounds (_perturbed_bounds)
}


# Answers are reused only from an audit by this very module (a change to the LPs or the findings changes it).
CODE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def component_key(model: _Model, members: list[int], relation_ids: list[int], threshold: int) -> str:
    """A digest of everything one component's findings depend on (its LP and the threshold)."""
    local = {u: j for j, u in enumerate(members)}
    digest = hashlib.blake2b(f"{threshold}\n".encode(), digest_size=20)
    for u in members:
        unknown = model.unknowns[u]
        digest.update(f"{unknown.label}|{unknown.low!r}|{unknown.high!r}\n".encode())
    for i in relation_ids:
        relation = model.relations[i]
        terms = sorted((local[u], coef) for u, coef in relation.coefficients.items())
        digest.update(f"{relation.name}|{relation.equality}|{relation.constant!r}|{terms}|{relation.shown}\n".encode())
    return digest.hexdigest()


def _restored(data: dict) -> Finding:
    """A finding read back from JSON (lists to the tuples the report uses)."""
    return Finding(data["table"], data["row"], data["label"], data["low"], data["high"], list(data["relations"]),
                   [tuple(c) for c in data["shown"]], [tuple(c) for c in data["further"]],
                   [[tuple(c) for c in cells] for cells in data["pinning"]])


def attack_tables(tables: dict[str, pd.DataFrame], threshold: int, perturbed: frozenset[str] = frozenset(),
                  truth: dict[str, pd.DataFrame] | None = None, safe: frozenset[str] = frozenset(),
                  known: dict[str, list[dict]] | None = None) -> AttackReport:
    """Every unseen count's interval from everything published in `tables` (`perturbed`: the tables whose
    counts carry the Cell Key Method's noise); the findings.

    `truth` (the warehouse's marts, for the auditor only) never constrains the attacker: it is a feasible
    point that proves most unknowns safe at once; without it every proof is by LP. `safe`: the labels of
    unknowns proven safe in a publication of the same rows that showed every cell this one shows or more
    (the protector's previous round); hiding more only widens what fits, so they stay safe. `known`: an
    earlier audit's `answers` (see the module's docstring); with it, the report's `answers` are this audit's."""
    model = _Model(tables, perturbed)
    for add in RELATIONS.values():
        if add is not None:
            add(model)
    # Safe by its bounds alone (a perturbed count published as 13 or more cannot be small), or by the truth,
    # a feasible point (a true count of 0, or at the threshold or above, is never confined inside 1 to t − 1).
    settled = np.array([u.low >= threshold or u.high < 1 or u.label in safe for u in model.unknowns], dtype=bool)
    true = _true_point(model, truth) if truth is not None else None
    if true is not None:
        settled |= (true <= TOLERANCE) | (true >= threshold - TOLERANCE)
    findings: list[Finding] = []
    checked: dict[str, int] = {}
    seconds: dict[str, float] = {}
    lps = 0
    components = _components(model)
    reused: dict[str, int] = {}
    answers: dict[str, list[dict]] = {}
    for unknown in model.unknowns:
        checked[unknown.table] = checked.get(unknown.table, 0) + 1
    for members, relation_ids in components:
        open_ = [u for u in members if not settled[u]]
        if not open_:
            continue
        if not relation_ids:  # its bounds alone
            findings += [_finding(model, u, model.unknowns[u].low, model.unknowns[u].high, [], [])
                         for u in open_ if _is_finding(model.unknowns[u].low, model.unknowns[u].high, threshold)]
            continue
        key = component_key(model, members, relation_ids, threshold) if known is not None else None
        if key is not None and key in known:
            findings += [_restored(f) for f in known[key]]
            answers[key] = known[key]
            for u in open_:
                reused[model.unknowns[u].table] = reused.get(model.unknowns[u].table, 0) + 1
            continue
        started = time.monotonic()
        problem = _Problem(model, members, relation_ids, threshold)
        left = _settle(problem, open_)
        found = _exact(problem, left) if left else []
        findings += found
        if key is not None:
            answers[key] = [asdict(f) for f in found]
        lps += problem.lps
        elapsed = time.monotonic() - started
        for u in open_:
            table = model.unknowns[u].table
            seconds[table] = seconds.get(table, 0.0) + elapsed / len(open_)
    unsafe = {f.label for f in findings}
    return AttackReport(findings, checked, {t: round(s, 3) for t, s in seconds.items()}, len(components), lps,
                        frozenset(u.label for u in model.unknowns if u.label not in unsafe), reused, answers)


def read_answers(path: Path) -> dict[str, list[dict]]:
    """The answers an earlier audit by this code wrote (`write_answers`); none if unreadable or older."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored.get("answers", {}) if stored.get("code") == CODE_DIGEST else {}


def write_answers(path: Path, answers: dict[str, list[dict]]) -> None:
    atomic_write_json(path, {"code": CODE_DIGEST, "answers": answers})


def read_published(path: Path) -> tuple[dict[str, pd.DataFrame], frozenset[str]]:
    """The published tables the attack reads, as they are in the file, and which of them are perturbed."""
    db = PublishedDatabase(path)
    try:
        return ({name: db.table_frame(name) for name in [*ATTACKED, "federations"] if db.has(name)},
                db.info.perturbed)
    finally:
        db.close()


def read_truth(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The warehouse's true counts of every attacked table (publication.spec's sources), for the auditor."""
    spec = {t.name: t for t in PUBLISHED}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {name: con.execute(f"select {', '.join(spec[name].keys + columns)} from {spec[name].source}").df()
                for name, columns in ATTACKED.items()}


def attack_file(path: Path, threshold: int, warehouse: Path | None = None,
                known: dict[str, list[dict]] | None = None) -> AttackReport:
    """The attack on a published file; with the `warehouse` it was built from, proved faster, and with
    an earlier audit's answers (`known`) only the components that changed are solved (attack_tables)."""
    tables, perturbed = read_published(path)
    return attack_tables(tables, threshold, perturbed, read_truth(warehouse) if warehouse else None, known=known)
