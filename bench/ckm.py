"""The Cell Key Method's effect on the register tables, on one built warehouse: the cells
published and hidden under each NNS_DISCLOSURE_METHOD, and how far CKM moves the counts.

    NNS_HOME=var/demo .venv/bin/python -m bench.ckm

Under suppression a cell is shown or hidden ('..'). Under ckm none is hidden; a cell whose
perturbed count is 0 is left out (as a cell with nobody in it). The perturbation is measured
on every count of every cell of the marts (cohort_size, n_observed, …), and on the counts
of the cells published.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from core.settings import Settings, get_settings
from core.swedish import SUPPRESSED
from publication.ckm import CELL_KEY, CKM, PERTURBED, noise
from publication.protect import protect_publication
from publication.spec import PUBLISHED


def measure(settings: Settings) -> list[dict]:
    """One row per register table: cells, shown and hidden under each method, and the perturbation."""
    suppressed = protect_publication(settings.warehouse, settings.disclosure_threshold, "suppression")
    perturbed = protect_publication(settings.warehouse, settings.disclosure_threshold, CKM)
    rows = []
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        for name, rule in PERTURBED.items():
            mart = con.execute(f"select * from marts.{name}").df()
            every = np.concatenate([noise(mart[c], mart[c + CELL_KEY]) for c in rule.counts])
            published = perturbed[name]
            rows.append({
                "table": name,
                "cells": len(mart),
                "suppression_shown": int((suppressed[name].status != SUPPRESSED).sum()),
                "suppression_hidden": int((suppressed[name].status == SUPPRESSED).sum()),
                "ckm_published": len(published),
                "ckm_left_out": len(mart) - len(published),
                "ckm_hidden": int((published.status == SUPPRESSED).sum()),
                "mean_abs_perturbation": round(float(np.abs(every).mean()), 3),
                "mean_abs_perturbation_published": round(_published_perturbation(mart, published, name), 3),
                "max_abs_perturbation": int(np.abs(every).max()),
            })
    return rows


def _published_perturbation(mart: pd.DataFrame, published: pd.DataFrame, name: str) -> float:
    """Mean |published − true| over the counts of the published cells."""
    keys = next(t.keys for t in PUBLISHED if t.name == name)
    both = published.merge(mart, on=keys, suffixes=("", "_true"), validate="one_to_one")
    return float(np.mean(np.concatenate([np.abs(both[c] - both[f"{c}_true"]) for c in PERTURBED[name].counts])))


def markdown(rows: list[dict]) -> str:
    lines = ["| table | cells | suppression: shown | hidden | ckm: published | left out (0) | hidden "
             "| mean abs. perturbation (all / published) | max |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = r["suppression_hidden"] / r["cells"] if r["cells"] else 0.0
        lines.append(f"| `{r['table']}` | {r['cells']} | {r['suppression_shown']} | {r['suppression_hidden']} "
                     f"({share:.1%}) | {r['ckm_published']} | {r['ckm_left_out']} | {r['ckm_hidden']} "
                     f"| {r['mean_abs_perturbation']} / {r['mean_abs_perturbation_published']} "
                     f"| {r['max_abs_perturbation']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(measure(get_settings())))
