"""What an operator needs to know at a glance: `nns status`.

It gathers the collection window, the ledger, the quarantine, the register
extracts in use and the last build (`operations.build_log`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import duckdb

from core import ledger, set_aside
from core.catalogue import load_catalogue
from core.ledger import LedgerRecord
from core.settings import Settings
from feedback.page import feedback_path
from ingest.personnummer import key_fingerprint, redact
from ingest.submission import refused_in_inbox
from operations.build_log import STEPS, build_summary
from operations.orchestration import rest_api


@dataclass
class Current:
    """Which submissions the last build used, as dbt decided (not a copy of its rules here)."""

    state: str  # built | no warehouse yet | busy (a build holds the warehouse)
    surveys: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (federation, period) -> ids
    extracts: set[str] = field(default_factory=set)

    @property
    def built(self) -> bool:
        return self.state == "built"


def current_submissions(settings: Settings) -> Current:
    """Read the current survey files and register extracts from the warehouse dbt built."""
    if not settings.warehouse.exists():
        return Current("no warehouse yet (run nns build)")
    try:
        con = duckdb.connect(str(settings.warehouse), read_only=True)
    except duckdb.IOException:
        return Current("busy: a build is writing the warehouse; try again when it has finished")
    with con:
        surveys: dict[tuple[str, str], set[str]] = {}
        for federation, period, submission in con.execute(
                "select federation_code, period, submission_id from intermediate.int_survey__current_submissions "
                "where part = 'rows'").fetchall():
            surveys.setdefault((federation, period), set()).add(submission)
        extracts = {s for (s,) in con.execute(
            "select submission_id from intermediate.int_register__current_extracts").fetchall()}
    return Current("built", surveys, extracts)

# --- the operator's overview (nns status) ---

def _redacted(text: str | None) -> str | None:
    """Ingest stores names and messages redacted; records written before it did may not be."""
    return redact(text) if text is not None else None


def _quarantined(settings: Settings, records: list[LedgerRecord]) -> list[dict]:
    """Rejected submissions still in the quarantine with no later accepted file to replace them.

    "Later" is core.ledger.superseded_by: for a survey file an accepted file for the same federation and
    period that arrived no earlier, for a register extract one of the same kind.
    """
    by_id = {r.submission_id: r for r in records}
    waiting = []
    for errors_file in sorted(settings.quarantine.glob("*/errors.json")):
        errors = json.loads(errors_file.read_text(encoding="utf-8"))
        record = by_id.get(errors.get("submission_id"))
        if record is None:
            continue  # not committed to the ledger: the file is still in the inbox and is read again
        if ledger.superseded_by(record, records):
            continue
        problems = errors.get("problems") or [{}]
        first = problems[0]
        where = ", ".join(f"{k} {first[k]}" for k in ("sheet", "row", "column") if first.get(k) is not None)
        waiting.append({
            "submission_id": record.submission_id, "file_name": _redacted(errors.get("file_name")),
            "feedback": _feedback_page(settings, errors, record),
            "source": record.source, "federation_code": errors.get("federation_code"), "period": errors.get("period"),
            "ingested_at": record.ingested_at, "problems": len(problems),
            "first_problem": redact(f"{first.get('code', '?')}: {first.get('message', '')}"
                                    + (f" ({where})" if where else "")),
            "details": str(errors_file.relative_to(settings.home)),
        })
    # By federation (register extracts, which have none, last), then period, then arrival.
    return sorted(waiting, key=lambda q: (q["federation_code"] is None, q["federation_code"] or "",
                                          q["period"] or "", q["ingested_at"] or "", q["submission_id"]))


def _refused(settings: Settings) -> list[dict]:
    """Inbox entries ingest refuses and leaves where they are (a symlink, a FIFO, a personnummer in the
    name): nothing of them is in the ledger, so only the inbox can tell. Named by their stored name."""
    return [{"entry": str(entry.path.parent.relative_to(settings.home) / entry.name), "code": entry.code,
             "message": entry.problem.message, "action": entry.problem.action}
            for entry in refused_in_inbox(settings)]


def _feedback_page(settings: Settings, errors: dict, record: LedgerRecord) -> str | None:
    """The feedback page to send to the federation (surveys only; None if it was not written)."""
    if record.is_register or not errors.get("file_name"):
        return None
    page = feedback_path(settings, errors)
    return str(page.relative_to(settings.home)) if page.exists() else None


def _collection(settings: Settings, records: list[LedgerRecord], period: str, quarantined: list[dict],
                current: Current, day: date) -> list[dict]:
    catalogue = load_catalogue(settings.catalogue_dir)
    # Nothing usable is "waiting" while a window of the period is still to close, and "missing" after.
    last_close = max((w.closes_on for w in catalogue.windows if w.period == period), default=None)
    nothing = "missing" if last_close is not None and day > last_close else "waiting"
    waiting = {(q["federation_code"], q["period"]) for q in quarantined}
    rows_ok = {r.submission_id: r.rows_ok for r in records}
    rows = []
    aside = {e.submission_id for e in set_aside.active(settings)}
    for federation in catalogue.federations_in(period):
        mine = [r for r in records if r.source == ledger.SURVEY and r.federation_code == federation.code
                and r.period == period]
        accepted = [r for r in mine if r.accepted]
        usable = [r for r in accepted if r.submission_id not in aside]
        in_use = current.surveys.get((federation.code, period), set()) if current.built else None
        # "Last received" is the file the build uses (the latest current one, as dbt decided), not
        # the latest arrival, which may be superseded, rejected or set aside; before any build, the
        # latest accepted file by arrival order; with none, the latest file at all.
        used = [r for r in mine if in_use and r.submission_id in in_use]
        last = ledger.latest(used) or ledger.latest(usable) or ledger.latest(mine)
        if (federation.code, period) in waiting:
            state = "quarantined"
        elif usable:
            state = "received"
        elif accepted:  # every accepted file is set aside
            state = "set aside"
        else:
            state = nothing
        # Questionnaire rows in the files the last build used (None: no warehouse to ask, or a build
        # that used a file loaded after the day shown).
        rows_in_use = None
        if in_use is not None and all(s in rows_ok for s in in_use):
            rows_in_use = sum(rows_ok[s] for s in in_use)
        rows.append({
            "federation_code": federation.code, "federation_name": federation.name, "files": len(mine),
            "accepted": len(accepted), "rejected": len(mine) - len(accepted),
            "rows": rows_in_use,
            "last_file": _redacted(last.file_name) if last else None,
            "last_received_at": last.received_at if last else None,
            "last_ingested_at": last.ingested_at if last else None,
            "state": state,
        })
    return rows


def _registers(records: list[LedgerRecord], settings: Settings, current: Current) -> dict:
    latest = {}
    for kind in (ledger.REGISTER_SUS, ledger.REGISTER_INCOME):
        accepted = [r for r in records if r.source == kind and r.accepted]
        best = max(accepted, key=lambda r: (r.extract_month or "", r.ingested_at), default=None)
        latest[kind.removeprefix("register_")] = (
            {"extract_month": best.extract_month, "file_name": _redacted(best.file_name),
             "ingested_at": best.ingested_at, "warnings": best.warnings,
             # what to pass on to the agency (rows left out, DUPLICATE_ROWS_REMOVED)
             "first_warning": _redacted(best.first_problem) if best.warnings else None,
             "details": f"{best.raw_path}/manifest.json" if best.warnings else None}
            if best else None)
    by_id = {r.submission_id: r for r in records}
    in_use = sorted({by_id[s].key_fingerprint for s in current.extracts if s in by_id and by_id[s].key_fingerprint})
    configured = key_fingerprint(settings.pseudonym_key) if settings.pseudonym_key else None
    return {**latest, "keys_in_use": in_use, "configured_key": configured}


def _set_aside_actions(settings: Settings) -> list[dict]:
    """Set-asides and releases (`nns quarantine`), from their records in the lake: who, when, what."""
    actions = []
    for entry in set_aside.all_entries(settings):
        what = json.dumps({"submission_id": entry.submission_id[:12], "why": entry.why}, ensure_ascii=False)
        actions.append({"when": entry.set_aside_at, "who": entry.set_aside_by, "event": "set_aside",
                        "dag_id": None, "run_id": None, "what": _redacted(what)})
        if entry.released_at:
            actions.append({"when": entry.released_at, "who": entry.released_by, "event": "release",
                            "dag_id": None, "run_id": None, "what": entry.submission_id[:12]})
    return actions


def operator_actions(settings: Settings, limit: int = 10) -> dict | None:
    """Who triggered, cleared, marked, paused or set aside what, newest first: the deployment's event
    log (/api/v2/eventLogs, operations.orchestration.rest_api.OPERATOR_EVENTS) and the set-aside records in the
    lake. None when there is no deployment and nothing was ever set aside."""
    local = _set_aside_actions(settings)
    error, remote = None, []
    try:
        api = rest_api.from_settings(settings)
        entries = api.event_logs(limit=limit) if api is not None else []
    except ValueError as exc:
        api, entries, error = None, [], str(exc)
    except rest_api.AirflowAPIError as exc:
        refusals = {401: f"HTTP 401, the API does not accept {settings.airflow_user}'s password",
                    403: f"HTTP 403, {settings.airflow_user}'s role may not read the event log (operator or "
                         "viewer may, operations.orchestration.access)"}
        api, entries, error = True, [], refusals.get(exc.status) or str(exc)[-300:]
    if api is None and error is None and not local:
        return None
    for entry in entries:
        try:
            extra = json.loads(entry.get("extra") or "{}")
        except json.JSONDecodeError:
            extra = {}
        what = {k: extra[k] for k in ("task_ids", "conf", "note", "is_paused", "new_state", "only_failed")
                if k in extra}
        remote.append({"when": entry["when"], "who": entry.get("owner"), "event": entry["event"],
                       "dag_id": entry.get("dag_id"), "run_id": entry.get("run_id"),
                       "what": _redacted(json.dumps(what, ensure_ascii=False)) if what else ""})
    # Newest first; a release in the same second as its set-aside still comes after it.
    actions = sorted(remote + local, key=lambda a: (a["when"] or "", a["event"] == "release"), reverse=True)[:limit]
    return {"error": error, "actions": actions}


def status_report(settings: Settings, day: date, *, period: str | None = None, recent: int = 10) -> dict:
    """Everything `nns status` shows, as plain data (`--json` prints exactly this).

    The ledger as it stood at the end of `day` (local time): a day in the past shows no load
    made after it. The inbox, set-asides and the last build are shown as they are now.
    """
    catalogue = load_catalogue(settings.catalogue_dir)
    records = [r for r in ledger.all_records(settings) if _local_day(r.ingested_at, settings.timezone) <= day]
    current = current_submissions(settings)
    window = catalogue.open_window(day)
    report: dict = {"date": day.isoformat(), "home": str(settings.home), "warehouse": current.state,
                    "timezone": settings.timezone}
    if window:
        report["window"] = {"period": window.period, "name": window.name, "opens_on": window.opens_on.isoformat(),
                            "closes_on": window.closes_on.isoformat(), "open": True}
    else:
        past = [w for w in catalogue.windows if w.closes_on < day]
        coming = [w for w in catalogue.windows if w.opens_on > day]
        report["window"] = None
        report["last_window"] = ({"period": past[-1].period, "name": past[-1].name,
                                  "closes_on": past[-1].closes_on.isoformat()} if past else None)
        report["next_window"] = ({"period": coming[0].period, "name": coming[0].name,
                                  "opens_on": coming[0].opens_on.isoformat()} if coming else None)
    report["period"] = period or (window.period if window else (past[-1].period if past else None))
    quarantined = _quarantined(settings, records)
    report["federations"] = (_collection(settings, records, report["period"], quarantined, current, day)
                             if report["period"] else [])
    report["quarantined"] = quarantined
    report["refused"] = refused = _refused(settings)
    report["set_aside"] = sorted((asdict(e) for e in set_aside.active(settings)),
                                 key=lambda e: (e["federation_code"] or "~", e["period"] or "", e["set_aside_at"]))
    report["recent_loads"] = [
        {k: _redacted(getattr(r, k)) if k in ("file_name", "first_problem") else getattr(r, k)
         for k in ("ingested_at", "status", "source", "file_name", "federation_code", "period",
                   "extract_month", "rows_ok", "first_problem")}
        for r in sorted(records, key=lambda r: r.ingested_at, reverse=True)[:recent]]
    report["registers"] = registers = _registers(records, settings, current)
    report["build"] = build_summary(settings)
    report["operator_actions"] = operator_actions(settings)
    attention = []
    if quarantined:
        attention.append(f"{len(quarantined)} quarantined file(s) awaiting action")
    if refused:
        attention.append(f"{len(refused)} inbox entr{'y' if len(refused) == 1 else 'ies'} refused and left in the "
                         "inbox: do what 'Refused in the inbox' says for each, then remove it")
    if window and report["period"] == window.period:
        days_left = (window.closes_on - day).days
        missing = [f["federation_code"] for f in report["federations"] if f["state"] in ("waiting", "set aside")]
        if missing and days_left <= settings.attention_days:
            attention.append(f"{len(missing)} federation(s) saknas (nothing usable received) and the window "
                             f"closes in {days_left} day(s): {', '.join(missing)}")
    if report["set_aside"]:
        attention.append(f"{len(report['set_aside'])} submission(s) set aside, left out of the build: "
                         + ", ".join(e["submission_id"][:12] for e in report["set_aside"])
                         + " (nns quarantine --release ID when fixed)")
    if len(registers["keys_in_use"]) > 1:
        attention.append("the register extracts in use were pseudonymised with different keys, so they do not "
                         "link: reload them all with one key (docs/operations.md)")
    elif registers["keys_in_use"] and registers["configured_key"] not in (None, *registers["keys_in_use"]):
        attention.append("the configured pseudonym key is not the one the extracts in use were loaded with: new "
                         "extracts will not link with them (docs/operations.md, rotating the key)")
    gate = report["build"]["steps"].get("quality_gate") or {}
    if gate.get("warnings"):
        attention.append(f"the quality gate gave {gate['warnings']} warning(s): see "
                         f"{gate.get('page') or 'publish/quality/gate.html'}")
    if report["build"]["state"] == "failed":
        failed = [s for s, e in report["build"]["steps"].items() if e["status"] in ("failed", "interrupted")]
        attention.append(f"the last build did not finish: {', '.join(failed)}")
    report["attention"] = attention
    return report


def _local_day(moment: str | None, zone: str) -> date:
    """The local day of a stored UTC time stamp (a record without one counts as from the first day)."""
    try:
        parsed = datetime.fromisoformat(moment or "")
    except ValueError:
        return date.min
    if parsed.tzinfo is None:  # the ledger writes UTC
        parsed = parsed.replace(tzinfo=ZoneInfo("UTC"))
    return parsed.astimezone(ZoneInfo(zone)).date()


def _local(moment: str | None, zone: str) -> str:
    """A stored UTC time stamp as local time with its zone, e.g. 2026-11-20 09:14 CET."""
    if not moment:
        return "-"
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is None:  # the ledger writes UTC
        parsed = parsed.replace(tzinfo=ZoneInfo("UTC"))
    return parsed.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _cut(text: str | None, width: int) -> str:
    """Fit a name in a column; a shortened one ends in an ellipsis, so it is never taken as whole."""
    text = text or "-"
    return text if len(text) <= width else text[:width - 1] + "…"


def render_text(report: dict) -> str:
    """The report as a few plain tables for a terminal or a log."""
    zone = report.get("timezone", "Europe/Stockholm")

    def _short(moment: str | None) -> str:
        return _local(moment, zone)

    out = [f"NNS status {report['date']}  (data home {report['home']}; times in {zone})", ""]
    if report.get("window"):
        w = report["window"]
        out.append(f"Collection window open: {w['period']} {w['name']}, {w['opens_on']} – {w['closes_on']}")
    else:
        last, coming = report.get("last_window"), report.get("next_window")
        out.append("No collection window is open."
                   + (f" Last: {last['period']} {last['name']}, closed {last['closes_on']}." if last else "")
                   + (f" Next: {coming['period']} {coming['name']}, opens {coming['opens_on']}." if coming else ""))
    federations = report["federations"]
    if federations:
        states = {state: sum(f["state"] == state for f in federations)
                  for state in ("received", "quarantined", "waiting", "missing")}
        out.append(f"Period {report['period']}, {len(federations)} federations: {states['received']} with an "
                   f"accepted file, {states['quarantined']} with a quarantined file, "
                   + (f"{states['missing']} missing (the period's last window has closed)."
                      if states["missing"] else f"{states['waiting']} without any."))
        if report["warehouse"] != "built":
            out.append(f"Rows in use: not known, {report['warehouse']}.")
        out.append("")
        out.append(f"{'federation':<10} {'name':<40} {'files':>5} {'acc':>4} {'rej':>4} {'rows':>6}  "
                   f"{'current file (last received)':<32} {'received':<21}  state")
        for f in federations:
            out.append(f"{f['federation_code']:<10} {_cut(f['federation_name'], 40):<40} {f['files']:>5} "
                       f"{f['accepted']:>4} {f['rejected']:>4} {'-' if f['rows'] is None else f['rows']:>6}  "
                       f"{_cut(f['last_file'], 32):<32} {_short(f['last_received_at']):<21}  "
                       f"{f['state']}")
    out.append("")
    quarantined = report["quarantined"]
    out.append(f"Quarantined files awaiting action: {len(quarantined)}")
    for q in quarantined:
        who = " ".join(x for x in (q["federation_code"], q["period"]) if x) or q["source"]
        out.append(f"  {q['file_name']}  ({who}, id {q['submission_id'][:12]}, {q['problems']} problem(s))")
        out.append(f"    first: {q['first_problem']}")
        out.append(f"    details: {q['details']}")
        if q.get("feedback"):
            out.append(f"    send: {q['feedback']}")
    if report.get("refused"):
        out.append("")
        out.append(f"Refused in the inbox (never read, nothing recorded; they stay until removed): "
                   f"{len(report['refused'])}")
        for r in report["refused"]:
            out.append(f"  {r['entry']}  ({r['code']})")
            out.append(f"    why: {r['message']}")
            out.append(f"    do: {r['action']}")
    if report.get("set_aside"):
        out.append("")
        out.append(f"Set aside (left out of every build until released): {len(report['set_aside'])}")
        for e in report["set_aside"]:
            who = " ".join(x for x in (e["federation_code"], e["period"]) if x) or "-"
            out.append(f"  {e['file_name']}  ({who}, id {e['submission_id'][:12]})")
            out.append(f"    why: {e['why']}  (by {e['set_aside_by']}, {_short(e['set_aside_at'])})")
    out.append("")
    out.append("Last loads:")
    for r in report["recent_loads"]:
        who = " ".join(x for x in (r["federation_code"], r["period"] or r["extract_month"]) if x)
        out.append(f"  {_short(r['ingested_at'])}  {r['status']:<8}  {r['file_name']}  "
                   f"({who}, {r['rows_ok'] or 0} rows)")
    if not report["recent_loads"]:
        out.append("  none yet")
    registers = report["registers"]
    out.append("Register extracts: " + "; ".join(
        f"{kind} through {registers[kind]['extract_month']} (loaded {_short(registers[kind]['ingested_at'])})"
        if registers[kind] else f"{kind}: none loaded" for kind in ("sus", "income")))
    for kind in ("sus", "income"):
        if (extract := registers[kind]) and extract.get("warnings"):
            out.append(f"  {extract['file_name']}: {extract['warnings']} warning(s), first: {extract['first_warning']}"
                       f" (send it to the agency: {extract['details']})")
    if registers["keys_in_use"] or registers["configured_key"]:
        out.append(f"Pseudonym key fingerprints: in use {', '.join(registers['keys_in_use']) or '-'}; "
                   f"configured {registers['configured_key'] or 'none'}")
    out.append("")
    build = report["build"]
    out.append(f"Last build: {build['state']}")
    recorded = build["steps"]
    for step in [*STEPS, *(s for s in recorded if s not in STEPS)] if recorded else []:
        entry = recorded.get(step)
        if entry is None:
            out.append(f"  {step:<13} not run in this build")
            continue
        line = f"  {step:<13} {entry['status']:<11} started {_short(entry.get('started_at'))}"
        if entry.get("seconds") is not None:
            line += f", {entry['seconds']} s"
        if entry.get("checksum"):
            line += f", checksum {entry['checksum'][:12]}"
        if entry.get("decision"):
            line += f": {entry['decision']}"
        out.append(line)
        if entry.get("error"):
            out.extend(f"      {text}" for text in entry["error"].splitlines())
    actions = report.get("operator_actions")
    if actions is not None:
        out.append("")
        out.append("Recent operator actions (Airflow's event log, where an entry is a request, see "
                   "docs/deployment.md; and set-asides from lake/set_aside/):")
        if actions["error"]:
            out.append(f"  not available: {actions['error']}")
        for a in actions["actions"]:
            out.append(f"  {_short(a['when'])}  {a['who'] or '?':<12} {a['event']:<26} {a['dag_id'] or '-'} "
                       f"{a['run_id'] or ''} {a['what']}".rstrip())
        if not actions["error"] and not actions["actions"]:
            out.append("  none")
    out.append("")
    out.append("Needs attention: " + ("; ".join(report["attention"]) if report["attention"] else "nothing"))
    return "\n".join(out)
