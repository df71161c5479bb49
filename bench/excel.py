"""Excel ingestion: questionnaire rows per second, read and validated, our way
(python-calamine + the contract) against the usual alternative, pandas
read_excel with openpyxl, on the same files and through the same contract.

Both sides end in the identical `validate()` call, so the comparison isolates
the reading; the validated output of both is checked equal, file by file.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from core.catalogue import load_catalogue
from core.settings import Settings
from ingest.contract import parse_name, validate
from ingest.reader import Sheets, read_xlsx


def _pandas_sheets(path: Path) -> Sheets:
    import pandas as pd

    frames = pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl")
    sheets = {}
    for name, frame in frames.items():
        rows = frame.astype(object).values.tolist()
        # NaN is pandas' empty cell; the contract expects None, as from any reader.
        sheets[name] = [[None if isinstance(v, float) and math.isnan(v) else v for v in row] for row in rows]
    return Sheets(sheets)


def _fingerprint(parsed) -> tuple:
    return (parsed.respondents, parsed.answers, parsed.collection,
            [(p.code, p.sheet, p.row, p.column) for p in parsed.problems])


def compare(files: list[Path], settings: Settings) -> dict:
    """Read and validate every file both ways; rows per second for each and the ratio."""
    catalogue = load_catalogue(settings.catalogue_dir)
    names = {f: parse_name(f.name, catalogue) for f in files}
    files = [f for f in files if not isinstance(names[f], Exception) and hasattr(names[f], "fmt")]
    out = {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}
    fingerprints = {}
    for label, reader in (("calamine", read_xlsx), ("pandas_openpyxl", _pandas_sheets)):
        rows = 0
        read_s = validate_s = 0.0
        for f in files:
            started = time.perf_counter()
            sheets = reader(f)
            read = time.perf_counter()
            parsed = validate(sheets, names[f], catalogue, settings.max_rows_per_sheet)
            validate_s += time.perf_counter() - read
            read_s += read - started
            rows += parsed.rows_total
            print_ = fingerprints.setdefault(f, _fingerprint(parsed))
            if print_ != _fingerprint(parsed):
                raise AssertionError(f"{f.name}: pandas/openpyxl and calamine read different content")
        total = read_s + validate_s
        out[label] = {"rows": rows, "read_s": round(read_s, 3), "validate_s": round(validate_s, 3),
                      "total_s": round(total, 3), "rows_per_s": round(rows / total, 1),
                      "read_rows_per_s": round(rows / read_s, 1)}
    out["ratio"] = round(out["calamine"]["rows_per_s"] / out["pandas_openpyxl"]["rows_per_s"], 2)
    out["read_only_ratio"] = round(out["pandas_openpyxl"]["read_s"] / out["calamine"]["read_s"], 2)
    return out
