"""The gate's verdict, as the last gate wrote it (publish/quality/gate.json): cheap to read.

`nns status`, the demo and promotion read it without importing Great Expectations (seconds).
`passed_candidate` is what promotion may rename: the candidate the last gate passed, with the
checksum of the file it judged, or None when the last gate failed or judged none.
"""

from __future__ import annotations

import json

from core.settings import Settings


def last_result(settings: Settings) -> dict | None:
    """The last gate's summary (publish/quality/gate.json)."""
    path = settings.quality_docs / "gate.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def passed_candidate(settings: Settings) -> dict | None:
    """{"candidate", "checksum"} of the candidate the last gate passed; None if it passed none."""
    result = last_result(settings) or {}
    return result.get("publication") if result.get("passed") else None
