"""Where the feedback page of a rejected survey file is written: the one rule for its path.

`report.feedback` writes the page there; `nns status` points the operator to it
(`send: feedback/SF07/…`) and must not import the report package to find it, which
takes seconds (matplotlib, WeasyPrint). Both read it from here.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.catalogue import Catalogue, load_catalogue
from core.settings import Settings

UNKNOWN_FEDERATION = "okänt-förbund"
_CODE_IN_NAME = re.compile(r"^(SF\d{2})(?=[_\-. ]|$)", re.I)


def federation_of(errors: dict, catalogue: Catalogue) -> str | None:
    """The federation: as read from the file, else from the file name, when it is a known code."""
    match = _CODE_IN_NAME.match(Path(errors.get("file_name", "")).name)
    for code in (errors.get("federation_code"), match.group(1).upper() if match else None):
        if code and catalogue.federation(code):
            return code
    return None


def feedback_path(settings: Settings, errors: dict, catalogue: Catalogue | None = None) -> Path:
    """`feedback/<FEDERATION>/<file>_återkoppling_<id>.html`, from a quarantine's errors.json."""
    catalogue = catalogue or load_catalogue(settings.catalogue_dir)
    federation = federation_of(errors, catalogue) or UNKNOWN_FEDERATION
    stem = Path(errors["file_name"]).stem
    return settings.feedback / federation / f"{stem}_återkoppling_{errors['submission_id'][:8]}.html"
