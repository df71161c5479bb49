"""Landing in the lake: nothing lost, idempotent by content hash, atomic."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

from core import ledger
from ingest import inbox, lake
from ingest.submission import finish_interrupted, ingest_submission
from operations.steps import files_to_ingest
from tests.conftest import sample_content


def snapshot(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_original_is_archived_and_the_inbox_emptied(settings, write_submission):
    good = write_submission("SF07_2025-26.xlsx")
    bad = settings.inbox / "SF08_2025-26.xlsx"
    bad.write_bytes(b"garbage")
    originals = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (good, bad)}
    outcomes = [ingest_submission(p, settings) for p in (good, bad)]
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    assert [p for p in settings.inbox.iterdir() if p.is_file()] == []
    for o in outcomes:
        archived = settings.archive / f"{o.submission_id}.xlsx"
        assert hashlib.sha256(archived.read_bytes()).hexdigest() == originals[o.file_name] == o.submission_id
    quarantined = settings.quarantine / outcomes[1].submission_id
    assert (quarantined / "SF08_2025-26.xlsx").read_bytes() == b"garbage"
    assert json.loads((quarantined / "errors.json").read_text())["problems"]


def test_reingesting_a_known_file_changes_nothing(settings, write_submission):
    path = write_submission("SF07_2025-26.xlsx")
    data = path.read_bytes()
    first = ingest_submission(path, settings)
    before = snapshot(settings.lake)
    path.write_bytes(data)  # the same bytes arrive again, under another name even
    again = settings.inbox / "SF07_2025-26_kopia.xlsx"
    os.replace(path, again)
    assert finish_interrupted(settings) == [], "tidying the inbox leaves a survey copy to be reported"
    assert files_to_ingest(settings) == [str(again)]  # listed, so that its line says what happened;
    assert again.exists()  # listing has no side effects;
    second = ingest_submission(again, settings)  # a no-op
    assert second.status == "known" and second.submission_id == first.submission_id
    assert second.summary() == (f"already ingested SF07_2025-26_kopia.xlsx (SF07 2025/26), submission "
                                f"{first.submission_id[:12]}: nothing to do")
    assert snapshot(settings.lake) == before
    assert not again.exists(), "the copy leaves the inbox (the archive has the bytes)"


def test_a_newer_file_is_a_new_submission_and_both_are_kept(settings, write_submission):
    first = ingest_submission(write_submission("SF07_2025-26.xlsx"), settings)
    second = ingest_submission(write_submission("SF07_2025-26_v2.xlsx", content=sample_content(n=8)), settings)
    assert first.submission_id != second.submission_id
    records = {r.submission_id: r for r in ledger.all_records(settings)}
    assert records[first.submission_id].status == records[second.submission_id].status == "accepted"
    assert (settings.raw / "survey" / first.submission_id).is_dir()
    assert (settings.raw / "survey" / second.submission_id).is_dir()
    # Which one wins is staging's job (latest received_at); see test_end_to_end.


def test_received_at_is_when_the_file_arrived(settings, write_submission):
    path = write_submission("SF07_2025-26.xlsx")
    inbox.observe(path, settings, now=1_700_000_000)  # the product first saw it then
    outcome = ingest_submission(path, settings)
    record = ledger.read_record(settings, outcome.submission_id)
    assert record.received_at == "2023-11-14T22:13:20+00:00"


def test_a_crash_before_the_ledger_record_is_redone_cleanly(settings, write_submission, monkeypatch):
    path = write_submission("SF07_2025-26.xlsx")
    data = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed before the commit point")

    monkeypatch.setattr(ledger, "write_record", crash)
    with contextlib.suppress(KeyboardInterrupt):
        ingest_submission(path, settings)
    assert path.exists(), "the inbox file stays until the ledger says it is done"
    monkeypatch.undo()
    path.write_bytes(data)
    outcome = ingest_submission(path, settings)
    assert outcome.status == "accepted"
    leftovers = [p for p in settings.lake.rglob(".*") if p.name != "_empty.json"]
    assert leftovers == [], "no temporary files are left behind"


def test_lake_is_initialised_with_schema_files(settings):
    lake.ensure_lake(settings)
    for table in ("respondents", "answers", "collection"):
        assert (settings.raw / "survey" / "_schema" / f"{table}.parquet").exists()


def test_a_file_outside_the_inbox_is_left_where_it_is(settings, write_submission, tmp_path):
    path = write_submission("SF07_2025-26.xlsx")
    elsewhere = tmp_path / "SF07_2025-26.xlsx"
    path.rename(elsewhere)
    assert ingest_submission(elsewhere, settings).status == "accepted"
    assert elsewhere.exists()
