"""The synthetic data: deterministic, realistic in structure, and valid."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from synthetic import PROFILES
from synthetic.surveys import write_survey_submissions


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory, catalogue):
    out = tmp_path_factory.mktemp("small")
    summary = write_survey_submissions(out, PROFILES["small"], catalogue, seed=7)
    return out, summary


def test_same_seed_same_bytes(small, tmp_path, catalogue):
    out, _ = small
    write_survey_submissions(tmp_path, PROFILES["small"], catalogue, seed=7)
    assert digest(tmp_path) == digest(out)
    other = tmp_path / "other"
    write_survey_submissions(other, PROFILES["small"], catalogue, seed=8)
    assert digest(other) != digest(out)


def test_generated_files_load_and_look_real(small, settings, catalogue):
    import shutil

    from ingest.submission import ingest_submission, waiting_surveys

    out, summary = small
    for p in out.iterdir():
        shutil.copy2(p, settings.inbox / p.name)
    outcomes = [ingest_submission(p, settings) for p in waiting_surveys(settings)]
    rejected = [o for o in outcomes if o.status == "rejected"]
    # Only the deliberately spoiled first versions are rejected, each with one error.
    assert len(rejected) == summary["rejected_first"]
    assert all(o.errors == 1 and o.first_problem.startswith("ANSWER_OUT_OF_RANGE") for o in rejected)
    assert {p.suffix for p in out.iterdir()} == {".xlsx", ".csv"}

    respondents = pq.read_table(
        [settings.raw / "survey" / o.submission_id / "respondents.parquet" for o in outcomes
         if o.status == "accepted"]).to_pylist()
    participants = Counter(r["gender"] for r in respondents if r["respondent_group"] == "deltagare")
    assert participants["K"] > 1.3 * participants["M"], "more women than men among participants"
    boards = Counter((r["submission_id"]) for r in respondents if r["respondent_group"] == "styrelse")
    assert max(boards.values()) <= 9, "boards are small"
    federations_by_period = {}
    for r in respondents:
        federations_by_period.setdefault(r["period"], set()).add(r["federation_code"])
    assert {"SF19", "SF20", "SF21", "SF22"} & federations_by_period["2019/20"]
    assert "SF23" in federations_by_period["2020/21"]
    assert not {"SF19", "SF20", "SF21", "SF22"} & federations_by_period["2020/21"]


def test_answers_skew_positive(small, settings):
    out, _ = small
    import shutil

    from ingest.submission import ingest_submission, waiting_surveys

    for p in list(out.iterdir())[:10]:
        shutil.copy2(p, settings.inbox / p.name)
    ids = [o.submission_id for o in (ingest_submission(p, settings) for p in waiting_surveys(settings))
           if o.status == "accepted"]
    values = (pq.read_table([settings.raw / "survey" / i / "answers.parquet" for i in ids])
              .column("answer_value").to_pylist())
    valid = [v for v in values if v is not None]
    assert 0.55 < sum(v >= 4 for v in valid) / len(valid) < 0.9
    assert 0.02 < values.count(None) / len(values) < 0.12, "some Vet ej / blanks"


def test_generated_history_arrives_when_it_was_delivered(settings, tmp_path):
    """Arrival is the product's first sighting; the generator replays those sightings at each file's
    simulated delivery time, so a resubmission arrives after the file it replaces and every data home
    generated with one seed agrees (the fault tests compare checksums across homes)."""
    import dataclasses

    from ingest import inbox
    from synthetic import generate

    def arrivals(s):
        generate("small", s.inbox, s, registers=False)
        return {p.name: inbox.arrival_time(p, s) for p in s.inbox.iterdir()}

    here = arrivals(settings)
    assert here == arrivals(dataclasses.replace(settings, home=tmp_path / "elsewhere"))
    resubmitted = [name for name in here if "_v2" in name]
    assert resubmitted and all(here[name] > here[name.replace("_v2", "")] for name in resubmitted)
    delivered = {p.name: datetime.fromtimestamp(int(p.stat().st_mtime), UTC).isoformat()
                 for p in settings.inbox.iterdir()}
    assert here == delivered, "the simulated history, not the moment the test ran"
