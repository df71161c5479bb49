"""One federation's submission cannot block the nation: the gate names it, `nns quarantine`
sets it aside, the build publishes without it, and releasing it brings the failure back.

The breaking submission is landed directly in the lake (as a file accepted under an older,
looser contract would be): ingest is meant to refuse such rows today, and this test must
not depend on a hole in ingest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from core import ledger, set_aside
from publication.checksum import published_checksum

NNS = str(Path(sys.executable).with_name("nns"))
BAD_ID = "badbadbad0" + "0" * 54


def land_breaking_copy(settings, table: str = "answers", column: str = "answer_value",
                       value: str = "9") -> ledger.LedgerRecord:
    """A later copy of a current survey submission with the first row's `column` of `table` set to
    `value` (by default an answer out of range: 9 on a 1–6 scale)."""
    records = [r for r in ledger.all_records(settings) if r.accepted and r.source == ledger.SURVEY
               and "deltagare" in r.respondent_groups]
    original = max(records, key=lambda r: r.rows_ok)
    source, target = settings.raw / "survey" / original.submission_id, settings.raw / "survey" / BAD_ID
    target.mkdir(parents=True)
    with duckdb.connect() as con:
        for part in ("respondents", "answers", "collection"):
            parquet = source / f"{part}.parquet"
            if not parquet.exists():
                continue
            change = (f"replace (? as submission_id, case when row_number() over () = 1 then {value} "
                      f"else {column} end as {column})" if part == table else "replace (? as submission_id)")
            con.execute(f"copy (select * {change} from read_parquet('{parquet}')) to '{target / parquet.name}' "
                        "(format parquet)", [BAD_ID])
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    (target / "manifest.json").write_text(json.dumps({**manifest, "submission_id": BAD_ID}), encoding="utf-8")
    record = ledger.LedgerRecord.from_dict({
        **original.to_dict(), "submission_id": BAD_ID, "file_name": f"late_{original.file_name}",
        "received_at": "2099-01-01T00:00:00+00:00", "raw_path": f"lake/raw/survey/{BAD_ID}"})
    ledger.write_record(settings, record)
    return record


def nns(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NNS_HOME": str(settings.home), "NNS_PSEUDONYM_KEY": "test-key-not-secret",
           "NNS_OPERATOR": "test-operator"}
    return subprocess.run([NNS, *args], env=env, capture_output=True, text=True, timeout=900)


def test_a_breaking_submission_is_named_set_aside_and_released(published_home, small_build):
    settings = published_home
    clean = published_checksum(small_build / "publish" / "marts.duckdb")
    bad = land_breaking_copy(settings)

    failed = nns(settings, "build")
    assert failed.returncode == 1, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert "landed_survey_answers" in failed.stderr and BAD_ID[:12] in failed.stderr, failed.stderr[-3000:]
    assert bad.federation_code in failed.stderr
    assert "nns quarantine" in failed.stderr
    assert published_checksum(settings.publish / "marts.duckdb") == clean, "nothing published"

    refused = nns(settings, "quarantine", BAD_ID[:12])
    assert refused.returncode == 2 and "--why" in refused.stderr
    done = nns(settings, "quarantine", BAD_ID[:12], "--why", "answer 9 on a 1–6 scale; asked SF for a new file")
    assert done.returncode == 0, done.stderr
    entry = set_aside.read(settings, BAD_ID)
    assert entry.active and entry.set_aside_by == "test-operator" and "1–6" in entry.why
    assert ledger.read_record(settings, BAD_ID).accepted, "the ledger record itself is unchanged"

    built = nns(settings, "build")
    assert built.returncode == 0, built.stderr[-3000:]
    assert published_checksum(settings.publish / "marts.duckdb") == clean, "the nation, built without it"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("select status, is_set_aside from staging.stg_ledger__submissions "
                           "where submission_id = ?", [BAD_ID]).fetchone() == ("set_aside", True)
        assert not con.execute("select 1 from intermediate.int_survey__current_submissions "
                               "where submission_id = ?", [BAD_ID]).fetchall()
    status = json.loads(nns(settings, "status", "--json", "--date", "2026-11-20").stdout)
    assert [s["submission_id"] for s in status["set_aside"]] == [BAD_ID]
    assert any("set aside" in a for a in status["attention"])

    released = nns(settings, "quarantine", "--release", BAD_ID[:12])
    assert released.returncode == 0, released.stderr
    entry = set_aside.read(settings, BAD_ID)
    assert not entry.active and entry.released_by == "test-operator" and entry.why, "the history stays"
    again = nns(settings, "build")
    assert again.returncode == 1 and BAD_ID[:12] in again.stderr, again.stderr[-3000:]
    assert nns(settings, "quarantine", "--release", BAD_ID[:12]).returncode == 2, "not set aside any more"


def test_a_set_aside_file_that_breaks_a_staging_test_no_longer_blocks_the_build(published_home, small_build):
    """Kön 'X' fails dbt's accepted_values test on stg_survey__respondents before the gate runs; set
    aside, the submission is out of the staging views, so that test passes and the nation is published."""
    settings = published_home
    clean = published_checksum(small_build / "publish" / "marts.duckdb")
    land_breaking_copy(settings, table="respondents", column="gender", value="'X'")

    failed = nns(settings, "build")
    assert failed.returncode == 1, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert "accepted_values_stg_survey__respondents_gender" in failed.stdout + failed.stderr, failed.stderr[-3000:]
    assert nns(settings, "quarantine", BAD_ID[:12], "--why", "kön X; nytt underlag begärt").returncode == 0

    built = nns(settings, "build")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    assert published_checksum(settings.publish / "marts.duckdb") == clean, "the nation, built without it"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert not con.execute("select 1 from staging.stg_survey__respondents where submission_id = ?",
                               [BAD_ID]).fetchall(), "invisible from staging up"


@pytest.mark.parametrize("given", ["abc", "ffffffffffff"])
def test_quarantine_refuses_an_unknown_or_short_id(settings, given):
    with pytest.raises(set_aside.UnknownSubmission):
        set_aside.set_aside(settings, given, "why")
