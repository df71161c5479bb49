"""Trust nothing from the file system, take only complete files, lose none (ingest/inbox.py)."""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import ledger
from ingest import inbox
from ingest.inbox import RefusedFile
from ingest.submission import ingest_submission, is_new, refused_in_inbox, waiting_surveys
from operations.steps import files_to_ingest
from tests.conftest import sample_content


@pytest.fixture
def waiting(settings):
    """Settings with the default stability interval (60 s) instead of the tests' 0."""
    return dataclasses.replace(settings, stable_seconds=60)


def test_a_file_still_being_written_is_not_taken_and_nothing_is_lost(waiting):
    """A writer appending: 20 of 200 rows in the inbox must neither be ingested nor deleted."""
    path = waiting.inbox / "SF07_2025-26_Styrelse.csv"
    header = "Löpnummer;Datum;Kön;S01;S02;S03;S04;S16\n"
    rows = [f"{i};2025-11-20;Kvinna;4;4;4;4;4\n" for i in range(1, 201)]
    with open(path, "w", encoding="utf-8") as writer:
        writer.write(header + "".join(rows[:20]))
        writer.flush()
        assert waiting_surveys(waiting) == [], "a file written a moment ago is not complete"
        assert files_to_ingest(waiting) == []
        time.sleep(0.05)
        writer.write("".join(rows[20:]))
        writer.flush()
        assert waiting_surveys(waiting) == []
    assert path.exists() and path.read_text(encoding="utf-8").count("\n") == 201
    # Once stable for the interval (here: the clock moves on), it is taken whole.
    later = time.time() + 61
    assert inbox.is_complete(path, waiting, now=later)


def test_a_file_renamed_into_place_is_taken_at_once(waiting):
    temporary = waiting.inbox / "SF07_2025-26_Styrelse.csv.part"
    temporary.write_text("Löpnummer;Datum\n1;2025-11-20\n", encoding="utf-8")
    assert waiting_surveys(waiting) == [], "an upload under a temporary name is never offered"
    time.sleep(0.02)
    final = waiting.inbox / "SF07_2025-26_Styrelse.csv"
    os.replace(temporary, final)
    assert waiting_surveys(waiting) == [final]


def test_a_future_mtime_cannot_make_a_file_look_finished(waiting):
    path = waiting.inbox / "SF07_2025-26_Styrelse.csv"
    path.write_text("Löpnummer;Datum\n1;2025-11-20\n", encoding="utf-8")
    future = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    os.utime(path, (future, future))  # (ctime is now, before this mtime: no sign of a rename)
    now = time.time()
    assert not inbox.is_complete(path, waiting, now=now)
    assert not inbox.is_complete(path, waiting, now=now + 30)
    assert inbox.is_complete(path, waiting, now=now + 61), "unchanged for the interval since first seen"


def test_arrival_is_the_first_sighting_never_a_modification_time(settings, write_submission):
    """The sender sets the modification time: neither a future nor a backdated one is the arrival."""
    before = datetime.now(UTC).isoformat(timespec="seconds")
    future = write_submission("SF07_2025-26.xlsx")
    os.utime(future, (datetime(2030, 6, 1, tzinfo=UTC).timestamp(),) * 2)
    assert before <= ingest_submission(future, settings).record.received_at < "2030"
    backdated = write_submission("SF08_2025-26.xlsx", content=sample_content("SF08"))
    os.utime(backdated, (1_700_000_000, 1_700_000_000))  # stamped 2023, seen now: arrived now
    assert ingest_submission(backdated, settings).record.received_at >= before


def test_a_backdated_correction_cannot_jump_the_queue(settings, write_submission):
    """A file seen later is the later file, whatever its time stamp says."""
    first = write_submission("SF07_2025-26.xlsx")
    inbox.observe(first, settings, now=time.time() - 3600)  # seen an hour ago
    early = ingest_submission(first, settings).record
    late = write_submission("SF07_2025-26_v2.xlsx", content=sample_content(n=8))
    os.utime(late, (1_600_000_000, 1_600_000_000))  # claims 2020
    later = ingest_submission(late, settings).record
    assert ledger.latest([later, early]) is later


def test_a_rerun_keeps_the_arrival_the_ledger_recorded(settings, write_submission):
    """Forced again in the same data home after the file left the inbox (and its sighting was
    forgotten): the ledger's arrival, not a new sighting."""
    path = write_submission("SF07_2025-26.xlsx")
    data = path.read_bytes()
    inbox.observe(path, settings, now=1_700_000_000)
    first = ingest_submission(path, settings).record
    assert first.received_at == "2023-11-14T22:13:20+00:00" and not path.exists()
    path.write_bytes(data)
    again = ingest_submission(path, settings, force=True).record
    assert again.received_at == first.received_at and again.ingested_at >= first.ingested_at


@pytest.mark.parametrize("kind", ["symlink", "fifo", "dangling"])
def test_special_files_are_refused_with_a_code_and_left_alone(settings, write_submission, tmp_path, kind):
    outside = tmp_path / "outside.xlsx"
    write_submission("SF07_2025-26.xlsx").rename(outside)
    entry = settings.inbox / "SF07_2025-26.xlsx"
    if kind == "symlink":
        entry.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(entry)
    else:
        entry.symlink_to(tmp_path / "nowhere.xlsx")
    assert waiting_surveys(settings) == []
    assert [(r.path.name, r.code) for r in refused_in_inbox(settings)] == [(entry.name, "FILE_NOT_REGULAR")]
    with pytest.raises(RefusedFile):
        ingest_submission(entry, settings)  # never opened: a FIFO would block here
    assert os.path.lexists(entry) and outside.exists()
    assert not settings.archive.exists() or not list(settings.archive.iterdir())
    assert ledger.all_records(settings) == []


def test_a_file_rejected_for_its_name_is_processed_under_a_corrected_name(settings, write_submission):
    wrong = write_submission("SF07-2025-26.xlsx")  # hyphens: FILE_NAME
    data = wrong.read_bytes()
    first = ingest_submission(wrong, settings)
    assert first.status == "rejected" and first.record.rejected_for_name
    fixed = settings.inbox / "SF07_2025-26.xlsx"
    fixed.write_bytes(data)  # the same bytes, renamed as the feedback page says
    assert is_new(fixed, settings) and files_to_ingest(settings) == [str(fixed)]
    second = ingest_submission(fixed, settings)
    assert second.status == "accepted" and second.submission_id == first.submission_id
    assert not second.record.rejected_for_name
    again = settings.inbox / "SF07_2025-26_kopia.xlsx"
    again.write_bytes(data)
    assert not is_new(again, settings), "accepted bytes are known under any name"


def test_a_file_rejected_for_its_content_stays_known_under_another_name(settings, write_submission):
    def bad(wb):
        wb["Deltagare"]["F2"] = 7
    path = write_submission("SF07_2025-26.xlsx", edit=bad)
    data = path.read_bytes()
    assert ingest_submission(path, settings).status == "rejected"
    renamed = settings.inbox / "SF07_2025-26_v2.xlsx"
    renamed.write_bytes(data)
    assert not is_new(renamed, settings)


def test_a_file_leaves_the_inbox_only_when_the_archive_has_exactly_its_bytes(settings, write_submission):
    from ingest.survey import leave_inbox

    path = write_submission("SF07_2025-26.xlsx")
    outcome = ingest_submission(path, settings)
    path.write_bytes(b"changed meanwhile")  # the same name, other bytes: not the archived file
    leave_inbox(path, settings, outcome.submission_id)
    assert path.exists(), "bytes the archive does not hold are never deleted"


def test_long_and_control_character_names_are_stored_safely():
    assert inbox.stored_name(Path("SF07_2025-26.xlsx\n")) == "SF07_2025-26.xlsx?"
    long = inbox.stored_name(Path("SF07_2025-26_" + "x" * 230 + ".xlsx"))
    assert len(long) <= 120 and "…" in long and long.endswith(".xlsx")
