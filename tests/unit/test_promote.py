"""Stage → gate → promote (publication.publish), without dbt: publish renames exactly what the gate passed."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from publication.checksum import published_checksum
from publication.publish import (
    PublicationRefused,
    candidate_path,
    gate_record_path,
    publish,
    read_gated,
    record_gated,
    warehouse_identity,
)


def write(path, value):
    with duckdb.connect(str(path)) as con:
        con.execute("create or replace table t as select ? as n", [value])


@pytest.fixture
def gated(settings):
    """A warehouse, and a candidate the gate passed on it."""
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    write(settings.warehouse, 1)

    def gate():
        candidate = candidate_path(settings)
        write(candidate, 42)
        return record_gated(settings, candidate, warehouse_identity(settings))

    return gate


def test_publish_renames_the_gated_candidate_once(settings, gated):
    record = gated()
    candidate = settings.publish / record["candidate"]
    inode = candidate.stat().st_ino
    target = publish(settings)
    assert target.stat().st_ino == inode and not candidate.exists()
    assert published_checksum(target) == record["checksum"]
    assert read_gated(settings) is None
    with pytest.raises(PublicationRefused, match="No candidate has passed the quality gate"):
        publish(settings)


def test_a_rebuilt_warehouse_is_refused(settings, gated):
    gated()
    write(settings.warehouse, 2)  # a dbt build between the gate and publish
    with pytest.raises(PublicationRefused, match="rebuilt since the quality gate"):
        publish(settings)
    assert not (settings.publish / "marts.duckdb").exists()


def test_a_changed_candidate_is_refused(settings, gated):
    record = gated()
    write(settings.publish / record["candidate"], 43)
    with pytest.raises(PublicationRefused, match="has changed since the quality gate"):
        publish(settings)


def test_a_new_gate_forgets_the_old_candidate(settings, gated):
    first = gated()
    second = gated()
    assert not (settings.publish / first["candidate"]).exists()
    assert read_gated(settings)["candidate"] == second["candidate"]


def test_a_different_threshold_is_refused(settings, gated):
    gated()
    with pytest.raises(PublicationRefused, match="gated at threshold"):
        publish(dataclasses.replace(settings, disclosure_threshold=8))


def test_a_different_disclosure_method_is_refused(settings, gated):
    gated()
    with pytest.raises(PublicationRefused, match="gated with NNS_DISCLOSURE_METHOD=suppression, not ckm"):
        publish(dataclasses.replace(settings, disclosure_method="ckm"))


def test_rerun_after_the_rename_is_a_no_op(settings, gated):
    """Killed between the rename (the commit point) and forgetting the record: publish again succeeds."""
    record = gated()
    (settings.publish / record["candidate"]).replace(settings.publish / "marts.duckdb")
    assert gate_record_path(settings).exists()
    assert publish(settings) == settings.publish / "marts.duckdb"
    assert read_gated(settings) is None
