"""What each DAG task does, as one call with no Airflow in it: the DAG files' only import.

Each function reads the settings itself (a task runs in a fresh process, perhaps
on another worker) and calls a step in `operations.steps`. A refusal that a retry
cannot fix (a rejected file, a failed quality gate, no pseudonym key) is raised
as `NotRetryable`, which the DAG turns into a failed task without retries.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from core.settings import get_settings
from ingest.inbox import RefusedFile
from ingest.register import MissingPseudonymKey
from operations import steps
from publication.candidate import PublicationRefused


class NotRetryable(RuntimeError):
    """The work ran and refused; running it again unchanged gives the same answer."""


def collection_window_open(run_after: datetime | None, params: dict) -> bool:
    forced = bool(params.get("ignore_calendar") or params.get("federation") or params.get("file")
                  or params.get("force"))
    return steps.should_collect(get_settings(), run_after, ignore_calendar=forced)


def new_survey_files(params: dict) -> list[str]:
    settings = get_settings()
    steps.tidy_inbox(settings)
    return steps.files_to_ingest(settings, federation=params.get("federation"), file_name=params.get("file"),
                                 force=bool(params.get("force")))


def new_register_files(params: dict) -> list[str]:
    settings = get_settings()
    steps.tidy_inbox(settings)
    return steps.register_files_to_ingest(settings, file_name=params.get("file"), force=bool(params.get("force")))


def label(path: str) -> str:
    """The file name an operator knows, for the mapped task's label."""
    return steps.submission_label(Path(path), get_settings())


def ingest(path: str, params: dict) -> dict:
    """Ingest one file; safe to clear and run again (see `ingest.submission`)."""
    try:
        outcome = steps.ingest_with_feedback(Path(path), get_settings(), force=bool(params.get("force")))
    except (MissingPseudonymKey, RefusedFile) as exc:  # a refused entry: replaced by a symlink since listing
        raise NotRetryable(str(exc)) from None
    if outcome.status == "rejected":
        # Fail this file only: the others still land and the asset is still emitted.
        raise NotRetryable(outcome.summary())
    return outcome.to_dict()


def any_accepted(outcomes: list[dict | None]) -> int:
    return sum(1 for o in outcomes if o and o["status"] == "accepted")


def anything_to_build(params: dict) -> bool:
    """False when nothing changed since the last publication (the DAG then skips every later task)."""
    return steps.nothing_to_build(get_settings(), full=bool(params.get("full")),
                                  data_docs=bool(params.get("data_docs")),
                                  all_reports=bool(params.get("all_reports"))) is None


def build_warehouse(params: dict) -> None:
    steps.build_warehouse(get_settings(), full=bool(params.get("full")))


def stage() -> str:
    try:
        return steps.stage_publication(get_settings()).name
    except PublicationRefused as refused:
        raise NotRetryable(str(refused)) from None  # disclosure control refused these marts


def quality_gate(params: dict) -> str:
    # Lazy: importing Great Expectations takes 3.5 s (see steps.quality_gate).
    from expectations.gate import GateFailed

    try:
        return steps.quality_gate(get_settings(), data_docs=bool(params.get("data_docs"))).summary()
    except GateFailed as failed:
        raise NotRetryable(str(failed)) from None  # retrying cannot fix the data


def publish() -> str:
    return str(steps.publish_marts(get_settings()))


def reports(params: dict) -> str:
    return str(steps.write_reports(get_settings(), rewrite_all=bool(params.get("all_reports"))))
