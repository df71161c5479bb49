"""Stage → gate → promote (publication.stage, publication.promote), without dbt: promotion renames exactly
the staged file the gate passed."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from publication.candidate import PublicationRefused, read_staged
from publication.checksum import published_checksum
from publication.promote import promote
from publication.stage import forget_candidates
from warehouse.identity import warehouse_identity


def write(path, value):
    with duckdb.connect(str(path)) as con:
        con.execute("create or replace table t as select ? as n", [value])


@pytest.fixture
def staged(settings, monkeypatch):
    """A warehouse, and a candidate staged from it (a stand-in for the protected tables) that the gate passed."""
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    write(settings.warehouse, 1)
    from publication import stage

    monkeypatch.setattr(stage, "write_publication", lambda s, path: write(path, 42))

    def stage_and_pass():
        candidate = stage.stage_candidate(settings)
        return candidate, {"candidate": candidate.name, "checksum": published_checksum(candidate.path(settings))}

    return stage_and_pass


def test_promote_renames_the_gated_candidate_once(settings, staged):
    candidate, gated = staged()
    inode = candidate.path(settings).stat().st_ino
    target = promote(settings, gated)
    assert target == settings.published_database
    assert target.stat().st_ino == inode and not candidate.path(settings).exists()
    assert published_checksum(target) == candidate.checksum
    assert read_staged(settings) is None
    with pytest.raises(PublicationRefused, match="No candidate has passed the quality gate"):
        promote(settings, gated)


def test_a_candidate_the_gate_did_not_pass_is_refused(settings, staged):
    candidate, gated = staged()
    for verdict in (None, {**gated, "checksum": "another file"}, {**gated, "candidate": ".candidate-other"}):
        with pytest.raises(PublicationRefused, match="No candidate has passed the quality gate"):
            promote(settings, verdict)
    assert not settings.published_database.exists() and candidate.path(settings).exists()


def test_a_rebuilt_warehouse_is_refused(settings, staged):
    _, gated = staged()
    write(settings.warehouse, 2)  # a dbt build between the gate and publish
    with pytest.raises(PublicationRefused, match="rebuilt since the quality gate"):
        promote(settings, gated)
    assert not settings.published_database.exists()


def test_a_changed_candidate_is_refused(settings, staged):
    candidate, gated = staged()
    write(candidate.path(settings), 43)
    with pytest.raises(PublicationRefused, match="has changed since the quality gate"):
        promote(settings, gated)


def test_a_new_stage_forgets_the_old_candidate(settings, staged):
    first, _ = staged()
    second, _ = staged()
    assert not first.path(settings).exists()
    assert read_staged(settings).name == second.name


def test_a_different_threshold_is_refused(settings, staged):
    _, gated = staged()
    with pytest.raises(PublicationRefused, match="gated at threshold"):
        promote(dataclasses.replace(settings, disclosure_threshold=8), gated)


def test_a_different_disclosure_method_is_refused(settings, staged):
    _, gated = staged()
    with pytest.raises(PublicationRefused, match="gated with NNS_DISCLOSURE_METHOD=ckm, not suppression"):
        promote(dataclasses.replace(settings, disclosure_method="suppression"), gated)


def test_rerun_after_the_rename_is_a_no_op(settings, staged):
    """Killed between the rename (the commit point) and forgetting the record: promoting again succeeds."""
    candidate, gated = staged()
    candidate.path(settings).replace(settings.published_database)
    assert settings.candidate_record.exists()
    assert promote(settings, gated) == settings.published_database
    assert read_staged(settings) is None


def test_the_staged_record_names_the_warehouse_it_came_from(settings, staged):
    candidate, _ = staged()
    assert candidate.warehouse == warehouse_identity(settings)
    forget_candidates(settings)
    assert not candidate.path(settings).exists()
