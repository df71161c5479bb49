"""What a reader can see: the publication measured against the warehouse it protects.

Disclosure control is judged twice on every build: by what an attacker can learn
(publication.attack) and by what a reader can still use, here. For each protected table,
comparing the candidate with the warehouse's marts cell by cell:

- `cells`: the cells the marts hold; `shown`: those published with their values;
- `hidden_small`: withheld or left out where the group's own true count is below the
  threshold (quality, or primary suppression); `hidden_other`: withheld or left out
  although the group is not small (secondary suppression, or noise that took a count to 0);
- `mean_abs_change`, `max_abs_change`: how far the published counts of people lie from the
  true ones, over the cells shown (0 under suppression);

and the headlines a coordinator looks for first (`HEADLINES`): each federation's indicator-11
result (all genders, insatser and supports) where its cohort has at least 20 and at least 5 are
observed, and each federation's survey results for women and for men. The gate page and
`make bench` report it; targets are the benchmark's, never the gate's.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.catalogue import NATION
from core.swedish import SUPPRESSED
from publication.spec import PUBLISHED

# name -> (table, the rows it is about, as a condition on the warehouse's mart `w`)
HEADLINES = {
    "indicator 11, each federation (cohort ≥ 20, ≥ 5 observed)": (
        "indicator11_outcomes", f"w.federation_code <> '{NATION}' and w.gender = 'T' and w.insats = 'alla' "
                                "and w.support_at_start = 'alla' and w.cohort_size >= 20 and w.n_observed >= 5"),
    "survey results, each federation, women": ("indicator_results",
                                               f"w.federation_code <> '{NATION}' and w.gender = 'K'"),
    "survey results, each federation, men": ("indicator_results",
                                             f"w.federation_code <> '{NATION}' and w.gender = 'M'"),
}
COLUMNS = ["table", "cells", "shown", "hidden_small", "hidden_other", "mean_abs_change", "max_abs_change"]


def _compare(con, table, threshold: int, where: str = "true") -> tuple:
    keys = " and ".join(f"p.{k} is not distinct from w.{k}" for k in table.keys)
    count = table.margin_count
    small = f"w.{count} < {threshold}" if table.count == table.margin_count else f"w.{table.count} < {threshold}"
    return con.execute(f"""
        select count(*),
               count(*) filter (where p.status = 'ok'),
               count(*) filter (where (p.status is null or p.status = '{SUPPRESSED}') and {small}),
               count(*) filter (where (p.status is null or p.status = '{SUPPRESSED}') and not ({small})),
               coalesce(avg(abs(p.{count} - w.{count})) filter (where p.status = 'ok'), 0),
               coalesce(max(abs(p.{count} - w.{count})) filter (where p.status = 'ok'), 0)
        from warehouse.{table.source} w left join candidate.{table.name} p on {keys}
        where {where}""").fetchone()


def usefulness(warehouse: Path, candidate: Path, threshold: int) -> list[dict]:
    """One row per protected table and per headline (see the module's docstring)."""
    rows = []
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        con.execute(f"attach '{candidate}' as candidate (read_only)")
        for table in PUBLISHED:
            if table.protected:
                rows.append(dict(zip(COLUMNS, (table.name, *_compare(con, table, threshold)), strict=True)))
        spec = {t.name: t for t in PUBLISHED}
        for name, (table, where) in HEADLINES.items():
            rows.append(dict(zip(COLUMNS, (name, *_compare(con, spec[table], threshold, where)), strict=True)))
    for row in rows:
        row["shown_share"] = round(row["shown"] / row["cells"], 4) if row["cells"] else None
        row["hidden_small_share"] = round(row["hidden_small"] / row["cells"], 4) if row["cells"] else None
        row["mean_abs_change"] = round(float(row["mean_abs_change"]), 3)
    return rows
