"""Where the time goes and why: the analysis behind the results, with the
figures of the run filled in (bench/results.md's last section)."""

from __future__ import annotations


def FINDINGS(r: dict) -> str:  # noqa: N802  (reads as a section)
    return "## Findings\n\n(to be written)\n"
