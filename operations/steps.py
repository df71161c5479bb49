"""The pipeline's steps as plain functions: what the DAGs call and the CLI runs.

Airflow only orchestrates; every step here can be run and tested without it.
Each build step takes the writer lock (`warehouse.lock`) and records itself in
the build log (`operations.build_log`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from core import files, ledger
from core.catalogue import load_catalogue
from core.settings import Settings
from expectations.verdict import passed_candidate
from feedback.page import mark_superseded, write_feedback
from ingest import lake
from ingest.outcome import Outcome
from ingest.personnummer import redact
from ingest.submission import finish_interrupted, ingest_submission, is_new, waiting_extracts, waiting_surveys
from operations import changes
from operations.build_log import track
from publication.candidate import PublicationRefused, read_staged
from publication.checksum import published_checksum
from publication.promote import promote
from warehouse.dbt import inject_fault, run_dbt
from warehouse.lock import writer_lock

log = logging.getLogger(__name__)


def should_collect(settings: Settings, run_after: datetime | None, *, ignore_calendar: bool = False) -> bool:
    """The nightly run only works inside a collection window (the calendar seed)."""
    if ignore_calendar:
        log.info("Collection calendar ignored on request")
        return True
    day = settings.local_date(run_after)
    window = load_catalogue(settings.catalogue_dir).open_window(day)
    if window is None:
        log.info("No collection window is open on %s: nothing to collect", day)
        return False
    log.info("Collection window %s %s is open (%s – %s)", window.period, window.name,
             window.opens_on, window.closes_on)
    return True


def _for_federation(name: str, federation: str | None) -> bool:
    return not federation or name.upper().startswith(f"{federation.upper()}_")


def tidy_inbox(settings: Settings) -> None:
    """Before listing: finish files a stopped run committed, and drop old temporaries."""
    lake.ensure_lake(settings)
    for leftover in lake.sweep_temporaries(settings):
        log.info("Removed %s, left by an interrupted write", leftover)
    for name in finish_interrupted(settings):
        log.info("Finished %s: committed to the ledger before its run stopped", name)


def files_to_ingest(settings: Settings, *, federation: str | None = None, file_name: str | None = None,
                    force: bool = False) -> list[str]:
    """Survey files waiting in the inbox, optionally narrowed by an operator. Lists only.

    Known bytes too: ingesting a copy reports it as already ingested, and it leaves the
    inbox (docs/submission_format.md §8.1). With `force` (reprocess after a contract fix)
    also, for each name that left the inbox, the latest submission under that name, read
    from the archive (`ingest_submission` gives it back its name).
    """
    chosen, seen = [], set()
    for path in waiting_surveys(settings):
        if (file_name and path.name != file_name) or not _for_federation(path.name, federation):
            continue
        seen.add(files.sha256_file(path))
        chosen.append(str(path))
    if force:
        latest: dict[str, ledger.LedgerRecord] = {}
        for record in ledger.all_records(settings):
            name = record.file_name
            if (record.source != ledger.SURVEY or record.submission_id in seen
                    or (file_name and name != file_name) or not _for_federation(name, federation)):
                continue
            if name not in latest or record.arrival_key() > latest[name].arrival_key():
                latest[name] = record
        chosen += [str(settings.home / r.archive_path)
                   for r in sorted(latest.values(), key=ledger.LedgerRecord.arrival_key)]
    log.info("%d file(s) to ingest from %s%s", len(chosen), settings.inbox, " (forced)" if force else "")
    return chosen


def register_files_to_ingest(settings: Settings, *, file_name: str | None = None, force: bool = False) -> list[str]:
    """Register extracts waiting in inbox/register/ whose bytes the ledger has not seen. Lists only.

    With `force` also known ones: a rejected extract stays in the inbox, so after a
    contract fix it can be loaded as it is (an accepted one has left the inbox for good).
    """
    return [str(path) for path in waiting_extracts(settings)
            if (not file_name or path.name == file_name)
            and (force or is_new(path, settings))]


def ingest_with_feedback(path: Path, settings: Settings, *, force: bool = False) -> Outcome:
    """One mapped ingest task: ingest the file; a rejected survey file gets its Swedish feedback page, and an
    accepted one marks the pages of the rejected files it replaces as no longer applying."""
    outcome = ingest_submission(Path(path), settings, force=force)
    if outcome.record.is_register or outcome.known:
        return outcome
    if outcome.status == "rejected":
        log.info("Feedback for the sender: %s", write_feedback(settings, outcome.submission_id))
    else:
        for page in mark_superseded(settings, outcome.record):
            log.info("Feedback page no longer applies (a corrected file was accepted): %s", page)
    return outcome


def submission_label(path: Path, settings: Settings) -> str:
    """The file name an operator knows, also for an archived original (named by its hash)."""
    path = Path(path)
    if path.parent == settings.archive:
        record = ledger.read_record(settings, path.stem)
        if record:
            return record.file_name  # stored masked
    return redact(path.name)  # a task label is shown and stored by Airflow


def nothing_to_build(settings: Settings, *, full: bool = False, data_docs: bool = False, all_reports: bool = False,
                     today: date | None = None) -> str | None:
    """A build's first step: why the publication already is what the build would publish
    (operations.changes.unchanged_since_publication), or None to build. With a reason, dbt, stage,
    the gate and publish are skipped (in Airflow the reports too). `full`, `data_docs`, `all_reports`
    and a seeded fault always build: the work was asked for.
    """
    asked = full or data_docs or all_reports or bool(settings.seeded_fault)
    with writer_lock(settings, "plan"), track(settings, "plan") as result:
        unchanged = None if asked else changes.unchanged_since_publication(settings, today=today)
        if unchanged:
            decision = f"nothing to build: {unchanged}"
        elif asked:
            decision = "build: a full build, the Data Docs, every report or a seeded fault was asked for"
        else:
            decision = "build: something changed since the last publication, or none is recorded"
        log.info("Tonight's plan: %s", decision)
        result.update(decision=decision)
        return unchanged


def build_warehouse(settings: Settings, *, full: bool = False, today: date | None = None) -> str:
    """Seeds, models and data tests, in dependency order: one writer.

    Only what changed since the last build (operations.changes.plan_build): everything with
    `full`, on the night a collection window closes, or when the project changed.
    """
    with writer_lock(settings, "dbt_build"), track(settings, "dbt_build") as result:
        plan = changes.plan_build(settings, full=full, today=today)
        log.info("dbt build, %s", plan.describe())
        result.update(selector=plan.selector or "everything", reasons=plan.reasons)
        output = run_dbt(settings, *plan.dbt_args())
        changes.record_built(settings, plan, changes.warehouse_identity(settings))
        if settings.seeded_fault:  # changes the warehouse after the record: the next build builds everything
            inject_fault(settings, settings.seeded_fault)
        return output


def stage_publication(settings: Settings):
    """Protect every published table and write them once, as the candidate the gate judges.

    Raises publication.candidate.PublicationRefused when disclosure control cannot protect the marts.
    """
    # Lazy: disclosure control imports scipy and the attacker's audit (1 s), which no other step needs.
    from publication.stage import stage_candidate

    with writer_lock(settings, "stage"), track(settings, "stage") as result:
        candidate = stage_candidate(settings)
        result.update(candidate=candidate.name, checksum=candidate.checksum, method=candidate.method)
        return candidate


def quality_gate(settings: Settings, *, data_docs: bool = False, today: date | None = None):
    """Judge the staged candidate: the GX suites on the landed data and the marts, the disclosure
    audits on the candidate.

    Only the suites of what changed since the last publication, and the disclosure audits
    always (operations.changes.gate_scope); the attacker's audit solves only the components that
    changed since the last gate, but every one after a full build and on the closing night. GX's
    Data Docs are built when something blocks, on `data_docs`, and on the night a collection window
    closes.
    Raises expectations.gate.GateFailed (nothing may be published) on a blocking failure, and
    publication.candidate.PublicationRefused when nothing is staged.
    """
    # Lazy: importing Great Expectations takes 3.5 s, which every other step would pay.
    from expectations.gate import GateFailed, run_gate

    # It reads the warehouse and swaps publish/quality: a writer like the others.
    with writer_lock(settings, "quality_gate"), track(settings, "quality_gate") as result:
        candidate = read_staged(settings)
        if candidate is None or not candidate.path(settings).exists():
            raise PublicationRefused("Nothing is staged for the gate to judge: run the stage step (nns build)")
        scope = changes.gate_scope(settings)
        closing = changes.closing_window(settings, settings.as_of_day(today)) is not None
        # The full audit, every component solved, after a full build and on the closing night.
        full_audit = closing or (changes.read_state(settings).get("built") or {}).get("selector", "") is None
        gate = run_gate(settings, candidate, raise_on_failure=False, sources=scope.sources, scope=scope.reason,
                        data_docs=data_docs or closing, reuse_audit=not full_audit)
        result.update(passed=gate.passed, expectations=gate.expectations, failures=len(gate.failures),
                      warnings=len(gate.warnings), page=str(Path(gate.docs).relative_to(settings.home)),
                      suites_run=len(gate.suites_run), carried=gate.carried, scope=scope.reason,
                      data_docs=gate.data_docs, candidate=candidate.name, checksum=gate.publication["checksum"],
                      audit="full" if full_audit else "unchanged components' answers reused")
        if not gate.passed:
            raise GateFailed(gate.summary())
        return gate


def publish_marts(settings: Settings) -> Path:
    """Promote the candidate the quality gate passed to publish/marts.duckdb (a rename), or refuse.

    Raises publication.candidate.PublicationRefused when no gated candidate matches the warehouse.
    """
    with writer_lock(settings, "publish"), track(settings, "publish") as result:
        path = promote(settings, passed_candidate(settings))
        changes.record_published(settings)
        result.update(path=str(path.relative_to(settings.home)), checksum=published_checksum(path))
        return path


def write_reports(settings: Settings, *, pdf: bool = True, progress=None, rewrite_all: bool = False) -> Path:
    """National report, popular version and federation reports from the published database.

    Only the reports whose rows changed since they were written (report.build), unless `rewrite_all`.
    """
    # Lazy: the report package (Typst, the charts, Jinja) is needed by no other step.
    from report.build import build_reports

    return build_reports(settings, pdf=pdf, progress=progress, rewrite_all=rewrite_all)
