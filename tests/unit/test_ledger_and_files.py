"""The ledger record and the atomic write: the bottom layer's two shared mechanisms."""

from __future__ import annotations

import json
import os

import pytest

from core import files, ledger
from core.ledger import LedgerRecord


def test_a_record_round_trips_through_its_file(settings):
    record = LedgerRecord(submission_id="ab" * 32, source=ledger.SURVEY, file_name="SF07_2025-26.xlsx",
                          received_at="2025-11-02T10:00:00+00:00", ingested_at=ledger.now_utc(),
                          status=ledger.ACCEPTED, federation_code="SF07", period="2025/26",
                          respondent_groups=["deltagare"], rows_ok=9)
    ledger.write_record(settings, record)
    text = ledger.record_path(settings, record.submission_id).read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 1, "one JSON object on one line (dbt reads NDJSON)"
    assert json.loads(text)["respondent_groups"] == ["deltagare"]
    assert ledger.read_record(settings, record.submission_id) == record
    assert ledger.all_records(settings) == [record]


def test_unknown_fields_from_a_newer_writer_are_ignored(settings):
    path = ledger.record_path(settings, "cd" * 32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"submission_id": "cd" * 32, "source": "register_sus", "file_name": "x.csv",
                                "received_at": "", "ingested_at": "", "a_future_field": 1}) + "\n")
    record = ledger.read_record(settings, "cd" * 32)
    assert record.is_register and not record.accepted


def test_arrival_order_breaks_ties_by_ingest_time_then_id():
    def record(sid, received, ingested):
        return LedgerRecord(submission_id=sid, source="survey", file_name="f", received_at=received,
                            ingested_at=ingested)

    a, b, c = record("a", "t1", "t2"), record("b", "t1", "t2"), record("c", "t1", "t1")
    assert ledger.latest([a, b, c]) is b
    assert sorted([b, a, c], key=LedgerRecord.arrival_key) == [c, a, b]


def test_an_accepted_file_of_the_same_second_supersedes_whatever_its_id():
    def record(sid, status):
        return LedgerRecord(submission_id=sid, source="survey", file_name="SF07_2025-26.xlsx", status=status,
                            federation_code="SF07", period="2025/26", received_at="t1", ingested_at="t1")

    rejected, accepted = record("b", ledger.REJECTED), record("a", ledger.ACCEPTED)  # the id sorts it first
    assert ledger.superseded_by(rejected, [rejected, accepted]) is accepted
    earlier = LedgerRecord(**{**accepted.to_dict(), "submission_id": "c", "received_at": "t0", "ingested_at": "t0"})
    assert ledger.superseded_by(rejected, [rejected, earlier]) is None


def test_an_atomic_write_leaves_the_old_file_when_it_fails(tmp_path):
    target = tmp_path / "x.json"
    files.atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), files.staged_file(target) as staged:
        staged.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"], "no temporary file left behind"


def test_an_atomic_write_keeps_the_mode_asked_for(tmp_path):
    target = tmp_path / "report.html"
    files.atomic_write_text(target, "<p>hej</p>", mode=0o644)
    assert target.read_text() == "<p>hej</p>" and (os.stat(target).st_mode & 0o777) == 0o644


def test_a_symlink_is_swapped_in_one_rename(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    link = tmp_path / "current"
    files.atomic_symlink(link, "a")
    files.atomic_symlink(link, "b")
    assert os.readlink(link) == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "current"]
