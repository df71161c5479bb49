"""What an operator needs to know at a glance, and the record of the last build it reads.

`<home>/status/last_build.json` holds one entry per build step, written by the
step itself (through `track`), whichever way it was started (Airflow or the CLI):

    {"updated_at": "...",
     "steps": {"dbt_build":    {"status": "success", "started_at": "...", "finished_at": "...",
                                "seconds": 41.2, "pid": 123, "host": "worker-1"},
               "quality_gate": {"status": "failed", ..., "error": "first lines of the reason"},
               "publish":      {"status": "success", ..., "path": "publish/marts.duckdb",
                                "checksum": "<nns.checksum of the published file>"}}}

`status` is running | success | failed. A step that starts drops the entries of
the steps after it (they belonged to the previous build), so the file always
describes one build. A step may add its own fields through the dict `track`
yields. `status_report` gathers the rest: the collection window, the ledger and
the quarantine.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from ingest.personnummer import redact
from nns.settings import Settings

STEPS = ("dbt_build", "quality_gate", "publish")
ERROR_LINES = 8


def status_path(settings: Settings) -> Path:
    return settings.home / "status" / "last_build.json"


def read_build_status(settings: Settings) -> dict:
    path = status_path(settings)
    if not path.exists():
        return {"steps": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_step(settings: Settings, step: str, entry: dict) -> None:
    """Write one step's entry; a step that starts forgets the steps after it."""
    from ingest.lake import atomic_write_json

    state = read_build_status(settings)
    steps = state.get("steps", {})
    if entry.get("status") == "running" and step in STEPS:
        for later in STEPS[STEPS.index(step) + 1:]:
            steps.pop(later, None)
    steps[step] = entry
    atomic_write_json(status_path(settings), {"updated_at": _now(), "steps": steps})


def first_lines(exc: BaseException, lines: int = ERROR_LINES) -> str:
    text = str(exc).strip() or type(exc).__name__
    kept = text.splitlines()[:lines]
    return "\n".join(kept)[:2000]


@contextmanager
def track(settings: Settings, step: str):
    """Record a build step as running, then success or failed (with the first lines of why)."""
    started, clock = _now(), time.monotonic()
    entry = {"status": "running", "started_at": started, "pid": os.getpid(), "host": socket.gethostname()}
    record_step(settings, step, dict(entry))
    extra: dict = {}
    try:
        yield extra
    except BaseException as exc:
        record_step(settings, step, {**entry, **extra, "status": "failed", "finished_at": _now(),
                                     "seconds": round(time.monotonic() - clock, 1), "error": first_lines(exc)})
        raise
    record_step(settings, step, {**entry, **extra, "status": "success", "finished_at": _now(),
                                 "seconds": round(time.monotonic() - clock, 1)})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def step_state(entry: dict) -> str:
    """running | success | failed, or interrupted: 'running' by a process on this host that is gone."""
    state = entry.get("status", "unknown")
    if state == "running" and entry.get("host") == socket.gethostname() and not _alive(int(entry.get("pid", 0))):
        return "interrupted"
    return state


def build_summary(settings: Settings) -> dict:
    steps = read_build_status(settings).get("steps", {})
    states = {step: step_state(entry) for step, entry in steps.items()}
    if not states:
        overall = "none"
    elif any(s in ("failed", "interrupted") for s in states.values()):
        overall = "failed"
    elif any(s == "running" for s in states.values()):
        overall = "running"
    else:
        overall = "success"
    ordered = {step: {**steps[step], "status": states[step]}
               for step in sorted(steps, key=lambda s: STEPS.index(s) if s in STEPS else len(STEPS))}
    return {"state": overall, "steps": ordered}


# --- the operator's overview (nns status) ---

def _redacted(text: str | None) -> str | None:
    """Ingest stores names and messages redacted; records written before it did may not be."""
    return redact(text) if text is not None else None


def _quarantined(settings: Settings, records: list[dict]) -> list[dict]:
    """Rejected submissions still in the quarantine with no later accepted file to replace them.

    For a survey file, "later" means an accepted file for the same federation and period that
    was sent (file time) and loaded no earlier; for a register extract, one of the same kind.
    """
    by_id = {r["submission_id"]: r for r in records}
    waiting = []
    for errors_file in sorted(settings.quarantine.glob("*/errors.json")):
        errors = json.loads(errors_file.read_text(encoding="utf-8"))
        record = by_id.get(errors.get("submission_id"))
        if record is None:
            continue  # not committed to the ledger: the file is still in the inbox and is read again
        source = record.get("source", "survey")
        when = (record.get("received_at") or "", record.get("ingested_at") or "")
        later = [r for r in records if r.get("status") == "accepted" and r.get("source") == source
                 and (r.get("received_at") or "", r.get("ingested_at") or "") >= when
                 and (source != "survey" or (r.get("federation_code"), r.get("period"))
                      == (record.get("federation_code"), record.get("period")))]
        if later:
            continue
        problems = errors.get("problems") or [{}]
        first = problems[0]
        where = ", ".join(f"{k} {first[k]}" for k in ("sheet", "row", "column") if first.get(k) is not None)
        waiting.append({
            "submission_id": errors.get("submission_id"), "file_name": _redacted(errors.get("file_name")),
            "source": source, "federation_code": errors.get("federation_code"), "period": errors.get("period"),
            "ingested_at": record.get("ingested_at"), "problems": len(problems),
            "first_problem": redact(f"{first.get('code', '?')}: {first.get('message', '')}"
                                    + (f" ({where})" if where else "")),
            "details": str(errors_file.relative_to(settings.home)),
        })
    return waiting


def _current_rows(accepted: list[dict]) -> int:
    """Questionnaire rows in the files that are current (the latest per questionnaire, as in dbt)."""
    current: dict[str, dict] = {}
    for record in sorted(accepted, key=lambda r: (r.get("received_at") or "", r.get("ingested_at") or "")):
        for group in record.get("respondent_groups") or []:
            current[group] = record
    return sum((r.get("rows_ok") or 0) for r in {r["submission_id"]: r for r in current.values()}.values())


def _collection(settings: Settings, records: list[dict], period: str, quarantined: list[dict]) -> list[dict]:
    from nns.catalogue import load_catalogue

    catalogue = load_catalogue(settings.catalogue_dir)
    waiting = {(q["federation_code"], q["period"]) for q in quarantined}
    rows = []
    for federation in catalogue.federations_in(period):
        mine = [r for r in records if r.get("source") == "survey" and r.get("federation_code") == federation.code
                and r.get("period") == period]
        accepted = [r for r in mine if r.get("status") == "accepted"]
        last = max(mine, key=lambda r: r.get("ingested_at", ""), default=None)
        if (federation.code, period) in waiting:
            state = "quarantined"
        elif accepted:
            state = "received"
        else:
            state = "waiting"
        rows.append({
            "federation_code": federation.code, "federation_name": federation.name, "files": len(mine),
            "accepted": len(accepted), "rejected": len(mine) - len(accepted),
            "rows": _current_rows(accepted),
            "last_file": _redacted(last.get("file_name")) if last else None,
            "last_received_at": last.get("received_at") if last else None,
            "last_ingested_at": last.get("ingested_at") if last else None,
            "state": state,
        })
    return rows


def _months(first: str, last: str) -> list[str]:
    year, month = map(int, first.split("-"))
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def current_extracts(records: list[dict]) -> list[dict]:
    """The register extracts the build uses, by the same rules as dbt: the latest SUS extract,
    and for every month the latest income extract that covers it."""
    def newest(r: dict) -> tuple:
        return (r.get("extract_month") or "", r.get("received_at") or "")

    accepted = [r for r in records if r.get("status") == "accepted"]
    sus = [r for r in accepted if r.get("source") == "register_sus"]
    current = [max(sus, key=newest)] if sus else []
    winners: dict[str, dict] = {}
    for r in (r for r in accepted if r.get("source") == "register_income"):
        for month in _months(r.get("first_month") or r["extract_month"], r["extract_month"]):
            if month not in winners or newest(r) > newest(winners[month]):
                winners[month] = r
    current += list({r["submission_id"]: r for r in winners.values()}.values())
    return current


def _registers(records: list[dict], settings: Settings) -> dict:
    from ingest.personnummer import key_fingerprint

    latest = {}
    for kind in ("register_sus", "register_income"):
        accepted = [r for r in records if r.get("source") == kind and r.get("status") == "accepted"]
        best = max(accepted, key=lambda r: (r.get("extract_month") or "", r.get("ingested_at") or ""), default=None)
        latest[kind.removeprefix("register_")] = (
            {"extract_month": best.get("extract_month"), "file_name": _redacted(best.get("file_name")),
             "ingested_at": best.get("ingested_at")} if best else None)
    in_use = sorted({r["key_fingerprint"] for r in current_extracts(records) if r.get("key_fingerprint")})
    configured = key_fingerprint(settings.pseudonym_key) if settings.pseudonym_key else None
    return {**latest, "keys_in_use": in_use, "configured_key": configured}


def status_report(settings: Settings, day: date, *, period: str | None = None, recent: int = 10) -> dict:
    """Everything `nns status` shows, as plain data (`--json` prints exactly this)."""
    from ingest import lake
    from nns.catalogue import load_catalogue

    catalogue = load_catalogue(settings.catalogue_dir)
    records = lake.ledger_records(settings) if settings.ledger.exists() else []
    window = catalogue.open_window(day)
    report: dict = {"date": day.isoformat(), "home": str(settings.home)}
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
    report["federations"] = _collection(settings, records, report["period"], quarantined) if report["period"] else []
    report["quarantined"] = quarantined
    report["recent_loads"] = [
        {k: _redacted(r.get(k)) if k in ("file_name", "first_problem") else r.get(k)
         for k in ("ingested_at", "status", "source", "file_name", "federation_code", "period",
                   "extract_month", "rows_ok", "first_problem")}
        for r in sorted(records, key=lambda r: r.get("ingested_at") or "", reverse=True)[:recent]]
    report["registers"] = registers = _registers(records, settings)
    report["build"] = build_summary(settings)
    attention = []
    if quarantined:
        attention.append(f"{len(quarantined)} quarantined file(s) awaiting action")
    if len(registers["keys_in_use"]) > 1:
        attention.append("the register extracts in use were pseudonymised with different keys, so they do not "
                         "link: reload them all with one key (docs/operations.md)")
    elif registers["keys_in_use"] and registers["configured_key"] not in (None, *registers["keys_in_use"]):
        attention.append("the configured pseudonym key is not the one the extracts in use were loaded with: new "
                         "extracts will not link with them (docs/operations.md, rotating the key)")
    if report["build"]["state"] == "failed":
        failed = [s for s, e in report["build"]["steps"].items() if e["status"] in ("failed", "interrupted")]
        attention.append(f"the last build did not finish: {', '.join(failed)}")
    report["attention"] = attention
    return report


def _short(moment: str | None) -> str:
    return moment.replace("T", " ")[:16] if moment else "-"


def render_text(report: dict) -> str:
    """The report as a few plain tables for a terminal or a log."""
    out = [f"NNS status {report['date']}  (data home {report['home']})", ""]
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
        states = {state: sum(f["state"] == state for f in federations) for state in ("received", "quarantined",
                                                                                    "waiting")}
        out.append(f"Period {report['period']}, {len(federations)} federations: {states['received']} with an "
                   f"accepted file, {states['quarantined']} with a quarantined file, {states['waiting']} without any.")
        out.append("")
        out.append(f"{'federation':<10} {'name':<34} {'files':>5} {'acc':>4} {'rej':>4} {'rows':>6}  "
                   f"{'last received':<16}  state")
        for f in federations:
            out.append(f"{f['federation_code']:<10} {f['federation_name'][:34]:<34} {f['files']:>5} "
                       f"{f['accepted']:>4} {f['rejected']:>4} {f['rows']:>6}  {_short(f['last_received_at']):<16}  "
                       f"{f['state']}")
    out.append("")
    quarantined = report["quarantined"]
    out.append(f"Quarantined files awaiting action: {len(quarantined)}")
    for q in quarantined:
        who = " ".join(x for x in (q["federation_code"], q["period"]) if x) or q["source"]
        out.append(f"  {q['file_name']}  ({who}, id {q['submission_id'][:12]}, {q['problems']} problem(s))")
        out.append(f"    first: {q['first_problem']}")
        out.append(f"    details: {q['details']}")
    out.append("")
    out.append("Last loads:")
    for r in report["recent_loads"]:
        who = " ".join(x for x in (r["federation_code"], r["period"] or r["extract_month"]) if x)
        out.append(f"  {_short(r['ingested_at'])}  {r['status']:<8}  {r['file_name']}  ({who}, {r['rows_ok'] or 0} rows)")
    if not report["recent_loads"]:
        out.append("  none yet")
    registers = report["registers"]
    out.append("Register extracts: " + "; ".join(
        f"{kind} through {registers[kind]['extract_month']} (loaded {_short(registers[kind]['ingested_at'])})"
        if registers[kind] else f"{kind}: none loaded" for kind in ("sus", "income")))
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
        out.append(line)
        if entry.get("error"):
            out.extend(f"      {text}" for text in entry["error"].splitlines())
    out.append("")
    out.append("Needs attention: " + ("; ".join(report["attention"]) if report["attention"] else "nothing"))
    return "\n".join(out)
