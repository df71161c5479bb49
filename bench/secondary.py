"""Secondary suppression on one built warehouse: smallest first against minimum loss.

For each protected table: its cells, the primary share, and the secondary share when the
secondary cells are chosen greedily (smallest first, as before issue #13) and by minimum
loss (publication.secondary, what is published); the protection time and the attacker's
audit of each; and the *lower bound* the integer program proves for the table's secondary
share under the protection rules, counting only that table's cells (loss 1 on each of them,
0 on every other table's; HiGHS's dual bound, summed over the connected sets). No choice of
cells under those rules hides fewer, so the bound says how far any method could go.

    NNS_HOME=var/demo .venv/bin/python -m bench.secondary [TABLE ...]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from core.settings import get_settings
from publication.attack import attack_tables
from publication.disclosure import SUPPRESSED, Incidence, hidden_from_the_start
from publication.linked import linked_system
from publication.protect import in_key_order, protect_frames, read_marts
from publication.secondary import MinimumLoss
from publication.spec import PUBLISHED

SPEC = {t.name: t for t in PUBLISHED}
BOUNDED = ["indicator_results", "indicator11_outcomes", "gender_analysis"]  # the two, and the one they share


def primary_cells(frames: dict[str, pd.DataFrame], threshold: int) -> dict[str, int]:
    return {name: int(df[SPEC[name].count].between(1, threshold - 1).sum())
            for name, df in frames.items() if SPEC[name].protected}


def compare(frames, reporting, threshold: int) -> dict:
    """Both methods end to end (with the attacker's rounds), per table."""
    primary = primary_cells(frames, threshold)
    result = {}
    for method, minimum_loss in (("smallest_first", False), ("minimum_loss", True)):
        started = time.monotonic()
        tables = protect_frames(frames, reporting, threshold, minimum_loss=minimum_loss)
        seconds = time.monotonic() - started
        audit = attack_tables(tables, threshold)
        result[method] = {
            "seconds": round(seconds, 1), "audit_findings": len(audit.findings),
            "secondary_share": {name: round(((tables[name].status == SUPPRESSED).sum() - primary[name])
                                            / len(tables[name]), 4) for name in primary},
        }
    result["cells"] = {name: len(frames[name]) for name in primary}
    result["primary_share"] = {name: round(primary[name] / len(frames[name]), 4) for name in primary}
    return result


def lower_bound(frames, reporting, threshold: int, table: str) -> float:
    """The least secondary share of `table` any pattern meeting the protection rules can have."""
    frames = in_key_order({name: df for name, df in frames.items() if SPEC[name].protected})
    system, offsets = linked_system(frames, reporting)
    counts = np.array(system.counts)
    fixed, never_shown = hidden_from_the_start(counts, threshold, system.unpublished)
    first, cells = offsets[table], len(frames[table])
    weights = np.zeros(len(counts))
    weights[first: first + cells] = 1.0
    members = Incidence(system.equations, len(counts)).members
    program = MinimumLoss(counts, system.equations, members, never_shown, threshold, weights)
    program.solve(fixed)
    # The sets solved: their proven least loss, less the table's primary cells in them (fixed, loss 1 each).
    in_solved = np.isin(program.labels, list(program.bounds_proven))
    primary_in_solved = weights[program.rows[in_solved]] @ fixed[program.rows[in_solved]]
    return round((sum(program.bounds_proven.values()) - primary_in_solved) / cells, 4)


def measure(settings, tables: list[str] = BOUNDED) -> dict:
    frames, reporting = read_marts(settings.warehouse)
    threshold = settings.disclosure_threshold
    result = compare(frames, reporting, threshold)
    result["lower_bound"] = {}
    for table in tables:
        started = time.monotonic()
        result["lower_bound"][table] = lower_bound(frames, reporting, threshold, table)
        print(f"lower bound for {table}: {result['lower_bound'][table]:.1%} ({time.monotonic() - started:.0f} s)",
              file=sys.stderr)
    return result


def markdown(result: dict) -> list[str]:
    greedy, minimum = result["smallest_first"], result["minimum_loss"]
    lines = ["| table | cells | primary | secondary, smallest first | secondary, minimum loss | lower bound |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, cells in result["cells"].items():
        bound = result["lower_bound"].get(name)
        lines.append(f"| `{name}` | {cells:,} | {result['primary_share'][name]:.1%} "
                     f"| {greedy['secondary_share'][name]:.1%} | {minimum['secondary_share'][name]:.1%} "
                     f"| {'' if bound is None else f'{bound:.1%}'} |")
    lines += ["", f"Protection with the attacker's rounds: {greedy['seconds']:.0f} s smallest first, "
                  f"{minimum['seconds']:.0f} s minimum loss; the audit's findings: "
                  f"{greedy['audit_findings']} and {minimum['audit_findings']}."]
    return lines


if __name__ == "__main__":
    measured = measure(get_settings(), sys.argv[1:] or BOUNDED)
    print(json.dumps(measured, indent=2))
    print("\n".join(markdown(measured)))
