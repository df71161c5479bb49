"""Feedback to a federation on a rejected submission: one Swedish HTML page per file.

Written from the quarantine's errors.json when a survey file is rejected, into
<home>/feedback/<FEDERATION>/, so a coordinator can send it back as it is: which
file, every problem with sheet, row and column and what to do, and how many rows
were fine. Register extracts are not covered: they come from the agencies, not
the federations, and their problems go to the operator (nns status, the ledger).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from core.catalogue import load_catalogue
from core.files import atomic_write_text
from core.settings import Settings
from report.build import _environment, swedish_date

UNKNOWN_FEDERATION = "okänt-förbund"
# Problems fixed by a new name or format, so "send it again under the same name" would be wrong.
RENAME_CODES = {"FILE_NAME", "FILE_TYPE", "PERSONAL_NUMBER_IN_NAME"}


def feedback_path(settings: Settings, errors: dict) -> Path:
    federation = errors.get("federation_code") or UNKNOWN_FEDERATION
    stem = Path(errors["file_name"]).stem
    return settings.feedback / federation / f"{stem}_återkoppling_{errors['submission_id'][:8]}.html"


def write_feedback(settings: Settings, submission_id: str) -> Path:
    """Render the feedback page for one quarantined submission; returns its path."""
    errors = json.loads((settings.quarantine / submission_id / "errors.json").read_text(encoding="utf-8"))
    catalogue = load_catalogue(settings.catalogue_dir)
    federation = catalogue.federation(errors["federation_code"]) if errors.get("federation_code") else None
    received = datetime.fromisoformat(errors["received_at"]).astimezone(ZoneInfo(settings.timezone))
    problems = errors["problems"]
    html = _environment().get_template("feedback.html.j2").render(
        errors=errors,
        federation_name=federation.name if federation else None,
        received=f"{swedish_date(received.date())} kl. {received:%H.%M}",
        errors_list=[p for p in problems if p["severity"] == "fel"],
        warnings_list=[p for p in problems if p["severity"] != "fel"],
        rows_with_errors=errors["rows_total"] - errors["rows_ok"],
        must_rename=any(p["code"] in RENAME_CODES for p in problems),
    )
    path = feedback_path(settings, errors)
    atomic_write_text(path, html)
    return path
