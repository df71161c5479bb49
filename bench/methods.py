"""Both disclosure methods side by side on one built warehouse: what each costs, proves and shows.

For the Cell Key Method (the default) and for suppression, on the same warehouse: the time to
protect every published table, the attacker's audit of the result (unknowns, findings, seconds),
and what readers can see (publication.usefulness: per table and headline the cells shown, those
withheld because the group is small or otherwise, and how far the published counts lie from the
true ones). Each publication is written to a scratch file beside the run, never published.

    NNS_HOME=var/demo .venv/bin/python -m bench.methods
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

from core.settings import DISCLOSURE_METHODS, Settings, get_settings
from publication.attack import attack_file
from publication.stage import write_publication
from publication.usefulness import usefulness

# What the benchmark holds the default method to (issue #26's targets, national profile).
TARGETS = {
    "indicator 11, each federation (cohort ≥ 20, ≥ 5 observed)": ("hidden", 0),
    "survey results, each federation, women": ("hidden_share", 0.25),
    "survey results, each federation, men": ("hidden_share", 0.55),
    "indicator_results": ("hidden_share", 0.27),
    "indicator11_outcomes": ("hidden_share", 0.13),
}
MEAN_CHANGE_AT_MOST = 2.1
GATE_SECONDS_AT_MOST = 10.0  # protecting every table and the attacker's audit, together


def measure_method(settings: Settings, method: str, scratch: Path) -> dict:
    chosen = dataclasses.replace(settings, disclosure_method=method)
    path = scratch / f"{method}.duckdb"
    started = time.monotonic()
    write_publication(chosen, path)
    protected = time.monotonic() - started
    started = time.monotonic()
    report = attack_file(path, settings.disclosure_threshold, settings.warehouse)  # as the gate runs it
    audited = time.monotonic() - started
    rows = usefulness(settings.warehouse, path, settings.disclosure_threshold)
    for row in rows:
        row["hidden"] = row["cells"] - row["shown"]
        row["hidden_share"] = round(row["hidden"] / row["cells"], 4) if row["cells"] else 0.0
    return {"method": method, "protect_seconds": round(protected, 1), "audit_seconds": round(audited, 1),
            "unknowns": sum(report.checked.values()), "findings": len(report.findings), "lps": report.lps,
            "usefulness": rows}


def measure(settings: Settings) -> dict[str, dict]:
    with tempfile.TemporaryDirectory(dir=settings.home) as scratch:
        return {method: measure_method(settings, method, Path(scratch)) for method in DISCLOSURE_METHODS}


def verdicts(result: dict[str, dict]) -> list[tuple[str, str, str, bool]]:
    """(what, target, measured, met) for the default method's targets."""
    ckm = {row["table"]: row for row in result["ckm"]["usefulness"]}
    out = []
    for name, (measure_, target) in TARGETS.items():
        row = ckm.get(name)
        if row is None:
            continue
        value = row[measure_]
        shown = f"{value:.1%}" if measure_ == "hidden_share" else f"{value} of {row['cells']}"
        out.append((name, f"hidden ≤ {target:.0%}" if measure_ == "hidden_share" else f"{target} hidden",
                    shown, value <= target))
    counts = [r for r in result["ckm"]["usefulness"] if r["table"] in {"indicator_results", "indicator_trends",
                                                                           "indicator11_outcomes", "gender_analysis"}]
    worst = max(r["mean_abs_change"] for r in counts) if counts else 0.0
    out.append(("mean |perturbation| of the counts shown (worst table)", f"≤ {MEAN_CHANGE_AT_MOST}",
                f"{worst:.2f}", worst <= MEAN_CHANGE_AT_MOST))
    seconds = result["ckm"]["protect_seconds"] + result["ckm"]["audit_seconds"]
    out.append(("disclosure work in the gate (protect, then audit)", f"≤ {GATE_SECONDS_AT_MOST:.0f} s",
                f"{seconds:.1f} s", seconds <= GATE_SECONDS_AT_MOST))
    findings = result["ckm"]["findings"]
    out.append(("the attacker's audit", "0 findings", f"{findings} of {result['ckm']['unknowns']:,} unknowns",
                findings == 0))
    return out


def markdown(result: dict[str, dict]) -> list[str]:
    methods = list(result)
    lines = ["| | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    lines.append("| protect every table | " + " | ".join(f"{result[m]['protect_seconds']:.1f} s" for m in methods)
                 + " |")
    lines.append("| the attacker's audit | " + " | ".join(
        f"{result[m]['findings']} findings of {result[m]['unknowns']:,} unknowns, {result[m]['audit_seconds']:.1f} s"
        for m in methods) + " |")
    names = [row["table"] for row in result[methods[0]]["usefulness"]]
    for name in names:
        cells = []
        for m in methods:
            row = next(r for r in result[m]["usefulness"] if r["table"] == name)
            change = f", mean \\|change\\| {row['mean_abs_change']:.2f}" if row["mean_abs_change"] else ""
            cells.append(f"{row['shown']:,} of {row['cells']:,} shown ({row['shown_share']:.1%}); withheld, small "
                         f"group {row['hidden_small']:,}, other {row['hidden_other']:,}{change}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    measured = measure(get_settings())
    print(json.dumps(measured, indent=2, ensure_ascii=False))
    print("\n".join(markdown(measured)))
