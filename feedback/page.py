"""Feedback to a federation on a rejected submission: one Swedish HTML page per file.

Written from the quarantine's errors.json when a survey file is rejected, into
<home>/feedback/<FEDERATION>/, so a coordinator can send it back as it is: which
file, every problem with where it is (sheet, row and column in a workbook; file,
line and column heading in a CSV file) and what to do, how many rows were fine,
the coordinator's contact, the day the collection window closes, how to send the
file again, and the federation's template for the period written next to the
page. Text a federation reads never shows an internal code or an exception name,
and always says "ni". Register extracts are not covered: they come from the
agencies, not the federations, and their problems go to the operator (nns status,
the ledger).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.catalogue import Catalogue, load_catalogue, parse_period
from core.files import atomic_write_text
from core.ledger import LedgerRecord, all_records, superseded_by
from core.settings import Settings
from core.swedish import num, swedish_date
from ingest.template import SubmissionContent, write_workbook
from ingest.verdict import Verdict

TEMPLATES = Path(__file__).parent / "templates"
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
    """`feedback/<FEDERATION>/<file>_återkoppling_<id>.html`, from a quarantine's errors.json: the one rule
    for where a page is, which `nns status` also reads to point the operator to it."""
    catalogue = catalogue or load_catalogue(settings.catalogue_dir)
    federation = federation_of(errors, catalogue) or UNKNOWN_FEDERATION
    stem = Path(errors["file_name"]).stem
    return settings.feedback / federation / f"{stem}_återkoppling_{errors['submission_id'][:8]}.html"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters.update(num=num)
    env.globals["css"] = (TEMPLATES / "feedback.css").read_text(encoding="utf-8")
    return env


# Problems fixed by a new name or format, so "send it again under the same name" would be wrong.
RENAME_CODES = {"FILE_NAME", "FILE_TYPE", "PERSONAL_NUMBER_IN_NAME"}
# An exception's name (BadZipFile, KeyError), alone or in brackets: internal, never for a federation.
_EXCEPTION_NAME = re.compile(r"\s*\(\s*[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+\s*\)|\s*\b[A-Z]\w*(?:Error|Exception)\b")


def _plain(text: str) -> str:
    """Text for a federation: no exception names, and "ni" rather than "du"."""
    text = _EXCEPTION_NAME.sub("", text or "")
    return re.sub(r"\bdu\b", "ni", re.sub(r"\bDu\b", "Ni", text))


def _period_of(errors: dict) -> str | None:
    if errors.get("period"):
        return errors["period"]
    match = re.search(r"(\d{4})[-_/](\d{2})", errors.get("file_name", ""))
    return parse_period(f"{match.group(1)}/{match.group(2)}") if match else None


def _heading(column: str | None) -> str | None:
    """'F (D01)' -> 'D01': a CSV file has headings, not column letters."""
    if not column:
        return None
    match = re.search(r"\(([^)]+)\)\s*$", column)
    return match.group(1) if match else column


def _where(problem: dict, file_name: str, is_csv: bool) -> str:
    parts = []
    if is_csv:
        parts.append(f"Filen {file_name}")
        if problem.get("row") is not None:
            parts.append(f"rad {problem['row']}")
        if problem.get("column"):
            parts.append(f"kolumnen {_heading(problem['column'])}")
    else:
        if problem.get("sheet"):
            parts.append(f"Bladet {problem['sheet']}")
        if problem.get("row") is not None:
            parts.append(f"rad {problem['row']}")
        if problem.get("column"):
            parts.append(f"kolumn {problem['column']}")
    return ", ".join(parts) if parts and (len(parts) > 1 or not is_csv) else "Hela filen"


def _revisions(problems: list[dict], catalogue: Catalogue, period: str | None) -> list[dict]:
    """A revised question as one message: an old question code (unknown this period) and its
    successor (missing) become "P08 ersattes av P08R från 2022/23"."""
    if not period:
        return problems
    missing = {_heading(p["column"]): p for p in problems if p["code"] == "COLUMN_MISSING" and p.get("column")}
    merged, used = [], set()
    for p in problems:
        old = catalogue.question(_heading(p.get("column")) or "") if p["code"] == "COLUMN_UNKNOWN" else None
        successor = next((q for q in catalogue.questions_for(old.group, period)
                          if q.indicator_id == old.indicator_id and q.code != old.code
                          and q.comparability_key.split("-")[0] == old.comparability_key.split("-")[0]), None) \
            if old else None
        if old and successor:
            merged.append({**p, "column": p["column"],
                           "message": f"Frågan {old.code} ersattes av {successor.code} från {successor.valid_from}. "
                                      f"Den nya frågan lyder: ”{successor.text}”",
                           "action": f"Byt rubriken {old.code} mot {successor.code} och kontrollera att svaren "
                                     "gäller den nya frågan. Mallen för mätperioden har rätt rubriker."})
            used.add(successor.code)
        else:
            merged.append(p)
    return [p for p in merged if not (p["code"] == "COLUMN_MISSING" and _heading(p.get("column")) in used
                                      and p is missing.get(_heading(p.get("column"))))]


def _closing_day(catalogue: Catalogue, period: str | None, received: date) -> date | None:
    """The day the collection window for the period closes (the next one still open after receipt)."""
    windows = sorted((w for w in catalogue.windows if period is None or w.period == period),
                     key=lambda w: w.closes_on)
    upcoming = [w for w in windows if w.closes_on >= received] or windows[-1:]
    return upcoming[0].closes_on if upcoming else None


def write_feedback(settings: Settings, submission_id: str, superseded_by: LedgerRecord | None = None) -> Path:
    """Render the feedback page for one quarantined submission, with the federation's template
    for the period next to it; returns the page's path. With `superseded_by` (the accepted file that
    replaced it) the page says at the top, and in its title, that it no longer applies, so that
    nobody forwards a page whose problems are already fixed."""
    errors = json.loads((settings.quarantine / submission_id / "errors.json").read_text(encoding="utf-8"))
    catalogue = load_catalogue(settings.catalogue_dir)
    path = feedback_path(settings, errors, catalogue)
    code, period = federation_of(errors, catalogue), _period_of(errors)
    template = None
    if template_exists(catalogue, code, period):
        template = path.parent / template_name(code, period)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_workbook(template, SubmissionContent(code, period), catalogue)
    received = datetime.fromisoformat(errors["received_at"]).astimezone(ZoneInfo(settings.timezone))
    html = render_page(errors, settings, catalogue, received=received,
                       template=template.name if template else None,
                       superseded=_superseded(superseded_by, settings.timezone) if superseded_by else None)
    atomic_write_text(path, html)
    return path


def template_name(code: str, period: str) -> str:
    """`mall_SF07_2025-26.xlsx`: the template's file name, next to a page or on the check page's link."""
    return f"mall_{code}_{period.replace('/', '-')}.xlsx"


def template_exists(catalogue: Catalogue, code: str | None, period: str | None) -> bool:
    """Whether a template can be made: a known, taking-part federation and a period with questionnaires."""
    federation = catalogue.federation(code) if code else None
    return bool(federation and period and catalogue.groups_in(period))


def render_page(errors: dict, settings: Settings, catalogue: Catalogue, *, received: datetime,
                template: str | None, superseded: dict | None = None, check: dict | None = None) -> str:
    """The page itself, from an errors.json document (the quarantine's, or an in-memory verdict's:
    ingest.verdict.Verdict.errors_document): the one place a feedback page is rendered.

    `template` is the link to the period's template workbook. With `check` (the check service,
    check.service) the page is the answer to a check instead of to a submission: it says whether the
    file can be sent (`check["accepted"]`), what was read, and carries the upload form.
    """
    code = federation_of(errors, catalogue)
    federation = catalogue.federation(code) if code else None
    period = _period_of(errors)
    file_name = errors["file_name"]
    is_csv = file_name.lower().endswith(".csv")
    problems = [{**p, "message": _plain(p["message"]), "action": _plain(p["action"])}
                for p in _revisions(errors["problems"], catalogue, period)]
    for p in problems:
        p["where"] = _where(p, file_name, is_csv)
    closing = _closing_day(catalogue, period, received.date())
    return _environment().get_template("feedback.html.j2").render(
        errors=errors,
        federation_code=code,
        federation_name=federation.name if federation else None,
        period=period,
        received=f"{swedish_date(received.date())} kl. {received:%H.%M}",
        errors_list=[p for p in problems if p["severity"] == "fel"],
        warnings_list=[p for p in problems if p["severity"] != "fel"],
        rows_with_errors=errors["rows_total"] - errors["rows_ok"],
        must_rename=any(p["code"] in RENAME_CODES for p in problems),
        contact=settings.coordinator_contact,
        closes=swedish_date(closing) if closing else None,
        template=template,
        is_csv=is_csv,
        superseded=superseded,
        check=check,
        check_url=settings.check_url,
    )


def _check_context(settings: Settings, **more) -> dict:
    mib = settings.check_max_upload_bytes / (1024 * 1024)
    return {"max_upload": f"{mib:.0f} MB" if mib >= 1 else f"{settings.check_max_upload_bytes} byte", **more}


def render_check(verdict: Verdict, settings: Settings, catalogue: Catalogue, *, checked_at: datetime,
                 template_url: str | None) -> str:
    """The check page's answer for one upload judged in memory (ingest.verdict): the page a rejected file
    gets, or "Filen kan skickas in" with what was read, and the upload form again."""
    groups = {g.code: g.sheet_name for g in catalogue.groups}
    sheets = [{"sheet": groups.get(code, code), "rows": rows, "counts": code in verdict.collection_groups}
              for code, rows in verdict.rows_per_sheet.items()]
    sheets += [{"sheet": groups.get(code, code), "rows": 0, "counts": True}
               for code in verdict.collection_groups if code not in verdict.rows_per_sheet]
    errors = verdict.errors_document(submission_id="", received_at=checked_at.isoformat())
    return render_page(errors, settings, catalogue, received=checked_at.astimezone(ZoneInfo(settings.timezone)),
                       template=template_url,
                       check=_check_context(settings, accepted=verdict.accepted, sheets=sheets))


def render_check_form(settings: Settings, *, notice: str | None = None) -> str:
    """The check page before any upload, or with a refusal in `notice` (a file too large, too many checks)."""
    return _environment().get_template("feedback.html.j2").render(
        errors=None, check=_check_context(settings, form_only=True, notice=notice),
        contact=settings.coordinator_contact, check_url=settings.check_url)


def _superseded(record: LedgerRecord, zone: str) -> dict:
    received = datetime.fromisoformat(record.ingested_at).astimezone(ZoneInfo(zone))
    return {"file_name": record.file_name, "received": f"{swedish_date(received.date())} kl. {received:%H.%M}"}


def mark_superseded(settings: Settings, accepted: LedgerRecord) -> list[Path]:
    """After `accepted` (a survey file) was taken in: rewrite the page of every rejected file it replaces
    (core.ledger.superseded_by), so each says it no longer applies. Worked out from the ledger, so a rerun
    writes the same pages."""
    records = all_records(settings)
    written = []
    for record in records:
        if (record.accepted or record.is_register or not (settings.quarantine / record.submission_id).is_dir()
                or superseded_by(record, records) != accepted):
            continue
        written.append(write_feedback(settings, record.submission_id, superseded_by=accepted))
    return written
