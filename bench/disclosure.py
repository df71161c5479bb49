"""What disclosure control costs and proves on a run's publication.

- hidden-cell shares per protected table, split into primary (the warehouse's own count
  is 1..threshold-1) and secondary (hidden to protect them);
- the attacker's audit (publication.attack) on the published file: unknowns checked,
  findings and seconds, per table.

    NNS_HOME=var/demo .venv/bin/python -m bench.disclosure
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from core.settings import Settings, get_settings
from core.swedish import SUPPRESSED
from publication.attack import attack_file
from publication.spec import PUBLISHED


def hidden_shares(settings: Settings, published: Path) -> dict[str, dict]:
    threshold = settings.disclosure_threshold
    shares = {}
    with duckdb.connect(str(published), read_only=True) as pub, \
            duckdb.connect(str(settings.warehouse), read_only=True) as warehouse:
        perturbed = set()
        columns = {r[0] for r in pub.execute("select column_name from duckdb_columns() "
                                             "where table_name = 'publication'").fetchall()}
        if "perturbed_tables" in columns:
            listed = pub.execute("select perturbed_tables from publication").fetchone()[0] or ""
            perturbed = {t.strip() for t in listed.split(",") if t.strip()}
        for table in PUBLISHED:
            if not table.protected or table.name in perturbed:
                continue
            cells, hidden = pub.execute(f"select count(*), count(*) filter (where status = '{SUPPRESSED}') "
                                        f"from {table.name}").fetchone()
            primary = warehouse.execute(f"select count(*) from {table.source} "
                                        f"where {table.count} between 1 and {threshold - 1}").fetchone()[0]
            shares[table.name] = {
                "cells": cells, "hidden": hidden, "primary": primary, "secondary": hidden - primary,
                "hidden_share": round(hidden / cells, 4) if cells else 0.0,
                "primary_share": round(primary / cells, 4) if cells else 0.0,
                "secondary_share": round((hidden - primary) / cells, 4) if cells else 0.0,
            }
    return shares


def measure(settings: Settings) -> dict:
    published = settings.published_database
    started = time.monotonic()
    report = attack_file(published, settings.disclosure_threshold)
    return {
        "shares": hidden_shares(settings, published),
        "audit": {"seconds": round(time.monotonic() - started, 1), "findings": len(report.findings),
                  "checked": report.checked, "seconds_by_table": report.seconds, "lps": report.lps,
                  "components": report.components},
    }


def markdown(result: dict) -> list[str]:
    lines = ["| table | cells | hidden | primary | secondary |", "|---|---:|---:|---:|---:|"]
    for name, s in result["shares"].items():
        lines.append(f"| `{name}` | {s['cells']:,} | {s['hidden_share']:.1%} | {s['primary_share']:.1%} "
                     f"| {s['secondary_share']:.1%} |")
    audit = result["audit"]
    lines += ["", f"The attacker's audit on the published file: {sum(audit['checked'].values()):,} unknowns "
                  f"checked ({', '.join(f'{t} {n:,}' for t, n in audit['checked'].items())}), "
                  f"**{audit['findings']} findings**, {audit['seconds']:.0f} s ({audit['lps']} LPs)."]
    return lines


if __name__ == "__main__":
    measured = measure(get_settings())
    print(json.dumps(measured, indent=2))
    print("\n".join(markdown(measured)))
