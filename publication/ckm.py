"""The Cell Key Method (CKM), the default disclosure control (NNS_DISCLOSURE_METHOD=ckm).

Instead of hiding cells, every published count gets a little noise, and the same
records always get the same noise (Statistics Sweden's method for population
statistics from 2025, after the ONS and the ABS). docs/analysts.md, "The Cell
Key Method", is what a reader is told; this module is the one place it is done.

- **Record keys.** Every record a count counts has a key in [0, KEY_RANGE − 1] in the
  warehouse, an HMAC under NNS_CKM_SECRET of what the record is (core.record_keys): a SUS
  record by the person's pseudonym (int_register__record_keys), a questionnaire by its
  federation, period, questionnaire and serial (int_survey__record_keys); an answer has its
  questionnaire's key.
- **Cell keys.** Every count in the marts has a `<count>_cell_key` column: the sum of the
  record keys of the records counted, modulo KEY_RANGE. The counts a federation reports
  itself (asked, answered) have no records: their cell key is an HMAC of the cell (`cell_key`).
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
- **Derived figures** come from the perturbed counts only (`perturb`): shares (at most 1),
  the mean score from the perturbed counts of each answer value, the interval (Wilson, its
  effective number of answers lowered by the perturbation's variance), the national and
  federation-mean columns. Register means of months and years are shown only from a
  perturbed count of MEAN_SHOWN_FROM (docs/analysts.md says why that is safe).
- **Quality, not protection:** a row whose perturbed count of people is below the
  threshold is not a result: in the questionnaire tables its values are withheld
  (status `..`), in the register tables it has no row. Nothing is hidden to protect
  another cell.

`perturb` is called from one place, publication.protect.protect_publication.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp, minimize
from scipy.special import logsumexp

from core.catalogue import NATION
from core.record_keys import record_hash
from core.swedish import SUPPRESSED
from publication.rounding import half_up, share_half_up
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
    """How one table is published under CKM."""

    counts: tuple[str, ...]  # perturbed, each with its <count>_cell_key in the mart
    people: str  # the perturbed count of people that decides whether the row is a result at all
    shares: dict[str, tuple[str, str]] = field(default_factory=dict)  # share -> (part, whole), perturbed
    # Means of a magnitude (months, years): shown only where the perturbed count proves more than JS people.
    means: tuple[str, ...] = ()
    reported: tuple[str, ...] = ()  # counts the federations report themselves: keyed by their cell (cell_key)
    withheld: bool = False  # a row that is no result stays, its values null (status ..); else it has no row
    answers: bool = False  # a questionnaire result: the mean and the interval from the perturbed answers


SURVEY_RESULT = Perturbed(("n", "valid_answers", "positive_answers"), "n",
                          {"positive_share": ("positive_answers", "valid_answers")}, withheld=True, answers=True)
PERTURBED = {
    "indicator_results": SURVEY_RESULT,
    "indicator_trends": SURVEY_RESULT,
    "collection_status": Perturbed(("rows_received",), "rows_received", {"response_rate": ("answered", "asked")},
                                   reported=("asked", "answered"), withheld=True),
    "collection_summary": Perturbed(("questionnaires",), "questionnaires", {"response_rate": ("answered", "asked")},
                                    reported=("asked", "answered"), withheld=True),
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
Z = 1.96  # the intervals' z, as the marts' (docs/analysts.md, "The interval")
BOUND_DECIMALS = 4
MEAN_DECIMALS = 3


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


def cell_key(secret: str, measure: str, *cell) -> int:
    """The cell key of a count with no records behind it (what a federation reports): an HMAC of the
    count and its cell, so the same cell keeps its noise and nobody without the secret knows it."""
    return record_hash(secret.encode(), "|".join([measure, *map(str, cell)])) % KEY_RANGE


def perturb(frames: dict[str, pd.DataFrame], threshold: int, secret: str) -> dict[str, pd.DataFrame]:
    """The protected tables among `frames` (warehouse marts with their cell keys), as published under CKM:
    counts perturbed, every derived figure from the perturbed counts, rows that are no result withheld
    (status ..) or left out, no cell key."""
    if frames and threshold - 1 > JS:
        raise ValueError(f"NNS_DISCLOSURE_METHOD=ckm publishes perturbed counts from {JS + 1} up, so "
                         f"NNS_DISCLOSURE_THRESHOLD may be at most {JS + 1}, not {threshold}")
    spec = {t.name: t for t in PUBLISHED}
    deff = _national_design_effects(frames["indicator_results"]) if "indicator_results" in frames else {}
    return {name: _perturb_table(frames[name], rule, spec[name], threshold, secret, deff)
            for name, rule in PERTURBED.items() if name in frames}


def _perturb_table(df: pd.DataFrame, rule: Perturbed, table, threshold: int, secret: str,
                   deff: dict) -> pd.DataFrame:
    df = df.copy()
    for count in rule.counts:
        df[count] = df[count] + noise(df[count], df[count + CELL_KEY])
    for count in rule.reported:
        keys = [cell_key(secret, count, *cell) for cell in df[table.keys].itertuples(index=False)]
        known = df[count].notna()
        df.loc[known, count] = df.loc[known, count] + noise(df.loc[known, count].astype("int64"),
                                                            np.asarray(keys)[known.to_numpy()])
    for share, (part, whole) in rule.shares.items():
        known = df[part].notna() & df[whole].notna()
        df[share] = share_half_up(df[part].fillna(0), df[whole].fillna(0)).where(known)
    if rule.answers:
        df["mean_score"] = [_mean_of(counts) for counts in df["answer_counts"]]
        df["ci_low"], df["ci_high"] = _interval(df, table, deff)
    for mean in rule.means:
        df[mean] = df[mean].mask(df[rule.people] < MEAN_SHOWN_FROM)
    too_few = (df[rule.people] < threshold).to_numpy()
    if rule.withheld:
        for column in table.nulled:
            df[column] = df[column].mask(too_few)
        df["status"] = np.where(too_few, SUPPRESSED, SHOWN)
    else:
        df = df[~too_few].copy()
        df["status"] = SHOWN
    columns = [c for c in table.published_columns if c in df.columns]  # national columns: publication.protect
    return df.sort_values(table.keys).reset_index(drop=True)[columns]


def _mean_of(answer_counts) -> float:
    """The mean score of a cell from the perturbed count of each answer value (its own cell key)."""
    if answer_counts is None or len(answer_counts) == 0:
        return np.nan
    values = np.array([a["answer_value"] for a in answer_counts], dtype=np.int64)
    counts = np.array([a["answers"] for a in answer_counts], dtype=np.int64)
    perturbed = counts + noise(counts, [a["cell_key"] for a in answer_counts])
    total = int(perturbed.sum())
    if total == 0:
        return np.nan
    scale = 10 ** MEAN_DECIMALS
    return half_up(scale * int((values * perturbed).sum()), total) / scale


def _national_design_effects(results: pd.DataFrame) -> dict[tuple, float]:
    """The nation's design effect per period, questionnaire and indicator (valid answers over effective
    answers, at least 1): every federation's interval uses it, so no cell's own clustering is revealed."""
    nation = results[(results.federation_code == NATION) & (results.gender == "T")
                     & (results.effective_answers > 0)]
    ratio = np.maximum(1.0, nation.valid_answers / nation.effective_answers)
    return dict(zip(zip(nation.period, nation.respondent_group, nation.indicator_id, strict=True), ratio,
                    strict=True))


def _interval(df: pd.DataFrame, table, deff: dict) -> tuple[pd.Series, pd.Series]:
    """Wilson at the perturbed share, with n_eff = M / (deff + V(1 + p̄²) / (M·p̄(1 − p̄))): the effective
    answers lowered so that the interval's variance also holds the perturbation's (V in the positive
    answers and V in all answers); M the perturbed valid answers, p̄ = (positive + ½) / (M + 1) so that
    the term stays finite at 0 % and 100 %. One answer per respondent (a trend cell) has deff 1."""
    answers = df["valid_answers"].astype(float)
    positive = np.minimum(df["positive_answers"].astype(float), answers)
    share = positive / answers.where(answers > 0)
    if table.name == "indicator_results":
        design = [deff.get(k, 1.0) for k in zip(df.period, df.respondent_group, df.indicator_id, strict=True)]
    else:
        design = [1.0] * len(df)
    smoothed = (positive + 0.5) / (answers + 1)
    effective = answers / (np.asarray(design) + V * (1 + smoothed ** 2) / (answers * smoothed * (1 - smoothed)))
    centre = (share + Z ** 2 / (2 * effective)) / (1 + Z ** 2 / effective)
    half = Z * np.sqrt(share * (1 - share) / effective + Z ** 2 / (4 * effective ** 2)) / (1 + Z ** 2 / effective)
    # Rounded from the computed double, as the marts' bounds (irrational, so never a tie; + 0.0: never -0.0).
    low = np.round((centre - half).clip(lower=0), BOUND_DECIMALS) + 0.0
    high = np.round((centre + half).clip(upper=1), BOUND_DECIMALS) + 0.0
    valid = answers > 0
    return low.where(valid), high.where(valid)


if __name__ == "__main__":
    generate_ptable().to_csv(PTABLE, index=False)
    print(f"wrote {PTABLE} (D={D}, V={V}, JS={JS}, {KEY_RANGE} cell keys)")
