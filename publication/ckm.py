"""The Cell Key Method (CKM) for the register count tables (NNS_DISCLOSURE_METHOD=ckm).

Instead of hiding cells, every published count gets a little noise, and the same
people always get the same noise (Statistics Sweden's method for population
statistics from 2025, after the ONS and the ABS). docs/analysts.md, "The Cell
Key Method", is what a reader is told; this module is the one place it is done.

- **Record keys.** Every SUS record has a key in [0, KEY_RANGE − 1] in the warehouse:
  an HMAC of the person's pseudonym under NNS_CKM_SECRET
  (dbt_project/models/intermediate/register/int_register__record_keys.py).
- **Cell keys.** Every count in the register marts has a `<count>_cell_key` column:
  the sum of the record keys of the records counted, modulo KEY_RANGE (the dbt
  macro `count_with_cell_key`, which counts and keys with the same condition).
- **The perturbation table** (`ptable.csv` beside this file) gives the noise for a
  count and its cell key. Parameters: D (the largest absolute perturbation), V (the
  variance of every row) and JS (counts 1..JS are never published as such). A count
  of 0 is never perturbed. Every row is unbiased with variance exactly V, has no
  negative result and no result in [1, JS]. Construction (`generate_ptable`): for
  each count, the maximum-entropy distribution over the allowed perturbations with
  mean 0 and variance V; then whole numbers of cell keys per perturbation, summing
  to KEY_RANGE, as close to it as possible (L1) with mean 0 and variance V exact
  (an integer program, HiGHS). Counts from FLAT up share the last row.
  `python -m publication.ckm` writes the table again; a test checks it is unchanged.

Shares are computed from the perturbed counts. `perturb` is called from one place,
publication.protect.protect_publication.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp, minimize
from scipy.special import logsumexp

from publication.rounding import share_half_up
from publication.spec import CKM_LARGEST_CHANGE, CKM_NEVER_SHOWN_UP_TO, PUBLISHED, SHOWN

CKM = "ckm"
KEY_RANGE = 256  # dbt var ckm_key_range (a test keeps the two equal)
D = CKM_LARGEST_CHANGE  # the largest absolute perturbation
V = 7  # the variance of the perturbation, in every row of the table
JS = CKM_NEVER_SHOWN_UP_TO  # counts 1..JS are never published as such
FLAT = JS + D + 1  # from this count up every perturbation in [-D, D] is allowed: one row serves them all
PTABLE = Path(__file__).with_name("ptable.csv")
CELL_KEY = "_cell_key"  # the mart column of a count's cell key: <count>_cell_key


@dataclass(frozen=True)
class Perturbed:
    """How one register table is published under CKM."""

    counts: tuple[str, ...]  # perturbed, each with its <count>_cell_key in the mart
    row_count: str  # a row whose perturbed row_count is 0 is left out, like a cell with nobody in it
    shares: dict[str, tuple[str, str]] = field(default_factory=dict)  # share -> (part, whole), perturbed
    # Means of the row's people: shown only where the perturbed row_count proves more than JS people.
    means: tuple[str, ...] = ()


PERTURBED = {
    "indicator11_outcomes": Perturbed(
        ("cohort_size", "n_observed", "n_self_supporting", "n_sustainable"), "n_observed",
        {"share_self_supporting": ("n_self_supporting", "n_observed"),
         "share_sustainable": ("n_sustainable", "n_observed")}),
    "gender_analysis": Perturbed(
        ("participants", "n_work_or_studies"), "participants",
        {"share_work_or_studies": ("n_work_or_studies", "participants")},
        ("mean_insats_months", "mean_years_public_support_before")),
    "support_transitions": Perturbed(("participants",), "participants"),
}
# A mean is shown only where the perturbed count is at least this: then at least JS + 1 people are in it.
MEAN_SHOWN_FROM = JS + D + 1


def perturbed_tables(method: str) -> list[str]:
    """The tables published with CKM under NNS_DISCLOSURE_METHOD=`method` (none under suppression)."""
    return list(PERTURBED) if method == CKM else []


# -- the perturbation table ---------------------------------------------------------------------


def _allowed(count: int) -> np.ndarray:
    """The perturbations a count may get: at most D either way, no negative result, none in [1, JS]."""
    return np.array([d for d in range(-min(count, D), D + 1) if not 1 <= count + d <= JS])


def _max_entropy(d: np.ndarray) -> np.ndarray:
    """The distribution over `d` with mean 0 and variance V of largest entropy, p ∝ exp(a·d + b·d²),
    through its convex dual."""
    def dual(ab):
        return logsumexp(ab[0] * d + ab[1] * d ** 2) - ab[1] * V

    a, b = minimize(dual, [0.0, -0.1], method="BFGS", options={"gtol": 1e-12}).x
    return np.exp(a * d + b * d ** 2 - logsumexp(a * d + b * d ** 2))


def _cell_keys_per_perturbation(d: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Whole numbers of cell keys for each perturbation: KEY_RANGE in all, mean 0 and variance V exactly,
    the closest (L1) to KEY_RANGE·p. Variables: the keys (integers), then |keys − KEY_RANGE·p|."""
    m, target = len(d), KEY_RANGE * p
    eye, zero = np.eye(m), np.zeros(m)
    constraints = [
        LinearConstraint(np.array([np.r_[np.ones(m), zero], np.r_[d, zero], np.r_[d ** 2, zero]]),
                         [KEY_RANGE, 0, KEY_RANGE * V], [KEY_RANGE, 0, KEY_RANGE * V]),
        LinearConstraint(np.hstack([eye, -eye]), -np.inf, target),
        LinearConstraint(np.hstack([-eye, -eye]), -np.inf, -target),
    ]
    result = milp(np.r_[zero, np.ones(m)], constraints=constraints, integrality=np.r_[np.ones(m), zero],
                  bounds=Bounds(0, np.inf))
    if result.status != 0:
        raise ValueError(f"no perturbation table with D={D}, V={V}, JS={JS} on {KEY_RANGE} cell keys")
    return np.round(result.x[:m]).astype(int)


def generate_ptable() -> pd.DataFrame:
    """The perturbation table: for each count (FLAT: every larger one too), the perturbation of the
    cell keys first_cell_key..last_cell_key, perturbations in increasing order."""
    rows = []
    for count in range(1, FLAT + 1):
        d = _allowed(count)
        first = 0
        for perturbation, keys in zip(d, _cell_keys_per_perturbation(d, _max_entropy(d)), strict=True):
            if keys:
                rows.append((count, int(perturbation), first, first + keys - 1))
                first += keys
    return pd.DataFrame(rows, columns=["count", "perturbation", "first_cell_key", "last_cell_key"])


@cache
def noise_grid() -> np.ndarray:
    """The committed table as a grid: noise_grid()[min(count, FLAT), cell_key]; row 0 (count 0) is 0."""
    grid = np.zeros((FLAT + 1, KEY_RANGE), dtype=np.int64)
    for row in pd.read_csv(PTABLE).itertuples(index=False):
        grid[row.count, row.first_cell_key:row.last_cell_key + 1] = row.perturbation
    return grid


def noise(counts, cell_keys) -> np.ndarray:
    """The perturbation of each count with its cell key."""
    counts = np.asarray(counts, dtype=np.int64)
    return noise_grid()[np.minimum(counts, FLAT), np.asarray(cell_keys, dtype=np.int64) % KEY_RANGE]


# -- publishing --------------------------------------------------------------------------------


SECRET_CHECK = "intermediate.int_register__ckm_secret_check"


def keys_made_under(con, settings) -> bool:
    """Whether the warehouse (an open DuckDB connection) made its record keys under the settings' secret."""
    row = con.execute(f"select any_value(fingerprint) from {SECRET_CHECK}").fetchone()
    return bool(row) and row[0] == settings.ckm_secret_fingerprint


def perturb(frames: dict[str, pd.DataFrame], threshold: int) -> dict[str, pd.DataFrame]:
    """The register tables among `frames` (warehouse marts with their cell keys), as published under
    CKM: counts perturbed, shares from the perturbed counts, every row status 'ok', no cell key."""
    if frames and threshold - 1 > JS:
        raise ValueError(f"NNS_DISCLOSURE_METHOD=ckm publishes perturbed counts from {JS + 1} up, so "
                         f"NNS_DISCLOSURE_THRESHOLD may be at most {JS + 1}, not {threshold}")
    spec = {t.name: t for t in PUBLISHED}
    return {name: _perturb_table(frames[name], rule, spec[name].keys, spec[name].columns)
            for name, rule in PERTURBED.items() if name in frames}


def _perturb_table(df: pd.DataFrame, rule: Perturbed, keys: list[str], columns: list[str]) -> pd.DataFrame:
    df = df.copy()
    for count in rule.counts:
        df[count] = df[count] + noise(df[count], df[count + CELL_KEY])
    df = df[df[rule.row_count] > 0].copy()
    for share, (part, whole) in rule.shares.items():
        df[share] = share_half_up(df[part], df[whole])
    for mean in rule.means:
        df[mean] = df[mean].mask(df[rule.row_count] < MEAN_SHOWN_FROM)
    df["status"] = SHOWN
    return df.sort_values(keys).reset_index(drop=True)[columns + ["status"]]


if __name__ == "__main__":
    generate_ptable().to_csv(PTABLE, index=False)
    print(f"wrote {PTABLE} (D={D}, V={V}, JS={JS}, {KEY_RANGE} cell keys)")
