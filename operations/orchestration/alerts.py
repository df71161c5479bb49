"""Failure alerts: one clear summary per failed task, logged and (when configured) e-mailed.

Attached to every task through DEFAULT_ARGS (operations/orchestration/assets.py). The summary says
what failed (DAG, task, file, run, try), why (the first lines of the error,
which by design never hold a personnummer), and the next command to run. With
NNS_SMTP_HOST set it is also sent to NNS_SMTP_TO; a failing mail server is
logged, never raised, so an alert cannot hide the failure it reports.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from core.settings import Settings, get_settings
from ingest.personnummer import redact

log = logging.getLogger(__name__)

ERROR_LINES = 8


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str


def _first_lines(error: object) -> str:
    text = str(error).strip() if error is not None else ""
    if not text:
        return type(error).__name__ if error is not None else "(no error message)"
    lines = text.splitlines()
    kept = "\n".join(lines[:ERROR_LINES])
    return kept + (f"\n… ({len(lines) - ERROR_LINES} more lines in the task log)" if len(lines) > ERROR_LINES else "")


def next_step(dag_id: str, task_id: str, label: str | None, error: str, home: str) -> str:
    """What the operator does next, as a command where there is one (docs/operations.md has the rest)."""
    if task_id == "ingest" and dag_id == "nns_collect":
        if error.startswith("REJECTED"):
            return (f"The file was rejected and quarantined (the original is archived). Send the federation the "
                    f"problems in the errors.json named above (Swedish, with sheet, row and column). A corrected "
                    f"file in the inbox is picked up by the next nightly run, or at once with:\n"
                    f"  nns ingest {home}/inbox/<corrected file>\nOverview: nns status")
        return (f"The file is still in the inbox. After fixing the cause, ingest it again:\n"
                f"  nns ingest {home}/inbox/{label or '<file>'}\n(or clear this task in Airflow)")
    if task_id == "ingest" and dag_id == "nns_registers":
        if "NNS_PSEUDONYM_KEY" in error:
            return (f"Set the pseudonym key (NNS_PSEUDONYM_KEY or NNS_PSEUDONYM_KEY_FILE), then:\n"
                    f"  nns ingest {home}/inbox/register/{label or '<extract>'}")
        return (f"The extract stays in {home}/inbox/register/ and its problems are in the errors.json named above. "
                f"Ask the agency for a corrected extract, then:\n  nns ingest {home}/inbox/register/<extract>")
    if task_id == "plan":
        return ("Nothing was built or published; analysts keep the last good database. The plan reads "
                f"{home}/status/fingerprints.json and the ledger. After fixing the cause:\n  nns build")
    if task_id == "dbt_build":
        return (f"Nothing was published; analysts keep the last good database. dbt's log: {home}/logs/dbt/dbt.log. "
                f"After fixing the cause:\n  nns build\n(or clear dbt_build in Airflow)")
    if task_id == "stage":
        return ("Disclosure control could not write a protected candidate; nothing was published and analysts keep "
                "the last good database. After fixing the cause:\n  nns build\n(or clear stage in Airflow: dbt's "
                "warehouse is already built)")
    if task_id == "quality_gate":
        return (f"The quality gate stopped the publication; analysts keep the last good database. The results are "
                f"in {home}/publish/quality/. See docs/operations.md, 'When the gate fails'; then:\n  nns build")
    if task_id == "publish":
        return ("Nothing was published; the previous publish/marts.duckdb stays. After fixing the cause:\n"
                "  nns build\n(or clear publish in Airflow: dbt's warehouse is already built)")
    if task_id == "reports":
        return "The published database is fine; only the reports failed. After fixing the cause:\n  nns report"
    return "Read the task log; after fixing the cause, clear the task in Airflow."


def summarise(context: dict, settings: Settings | None) -> Alert:
    """The alert for a failed task, from the context Airflow passes to on_failure_callback."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    label = getattr(ti, "rendered_map_index", None) or (str(map_index) if map_index not in (None, -1) else None)
    run_id = context.get("run_id") or getattr(ti, "run_id", "?")
    try_number = getattr(ti, "try_number", None)
    error = context.get("exception")
    reason = _first_lines(error)  # ingest's summaries are built from redacted names and messages
    label = redact(label) if label else label  # a file name: mask a personnummer in it
    what = f"{dag_id}.{task_id}" + (f" [{label}]" if label else "")
    lines = [
        f"NNS: {what} failed.",
        "",
        f"DAG:    {dag_id}",
        f"Task:   {task_id}" + (f" (map index {map_index}: {label})" if label else ""),
        f"Run:    {run_id}" + (f", try {try_number}" if try_number else ""),
        f"Error:  {type(error).__name__ if error is not None else '?'}",
        "",
        reason,
        "",
        "Next:",
        next_step(dag_id, task_id, label, reason, str(settings.home) if settings else "$NNS_HOME"),
    ]
    # A link is a nicety; Airflow may not know its base URL.
    with contextlib.suppress(Exception):
        lines += ["", f"Log: {ti.log_url}"]
    return Alert(subject=f"[NNS] {what} failed", body="\n".join(lines))


def send(alert: Alert, settings: Settings) -> bool:
    """E-mail the alert if an SMTP host is configured. Returns whether it was sent."""
    if not settings.smtp_host:
        return False
    if not settings.smtp_to:
        log.error("NNS_SMTP_HOST is set but NNS_SMTP_TO is empty: the alert was not e-mailed")
        return False
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.smtp_to)
    message.set_content(alert.body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("The alert could not be e-mailed via %s:%s: %s", settings.smtp_host, settings.smtp_port, exc)
        return False
    log.info("Alert e-mailed to %s", ", ".join(settings.smtp_to))
    return True


def on_task_failure(context: dict) -> None:
    """Airflow's on_failure_callback: log the summary, and e-mail it when configured."""
    try:
        settings = get_settings()
    except ValueError as exc:
        log.error("The settings cannot be read (%s): the alert is only logged", exc)
        settings = None
    alert = summarise(context, settings)
    log.error("%s\n%s", alert.subject, alert.body)
    if settings:
        send(alert, settings)
