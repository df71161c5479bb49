"""NNS_DISCLOSURE_METHOD=ckm on the small profile: the gate passes and publishes perturbed register
tables, whose counts equal the ONS reference implementation's on the warehouse's own record keys,
with the same noise for the same people in every table and every rebuild. Also prints CKM's
effect on the register tables (bench.ckm)."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest
from cell_key_perturbation.create_perturbed_table import create_perturbed_table

from bench.ckm import markdown, measure
from core.settings import get_settings
from operations.steps import build_warehouse, publish_marts, quality_gate, stage_publication
from publication import ckm
from publication.attack import attack_file
from publication.audit import audit
from publication.candidate import PublicationRefused
from publication.protect import protect_publication
from publication.reader import PublishedDatabase
from publication.spec import PUBLISHED
from publication.stage import write_publication
from tests.conftest import CKM_TEST_SECRET, environment
from tests.unit.test_ckm import ons_ptable

REGISTER = ckm.perturbed_tables("ckm")


@pytest.fixture(scope="module")
def ckm_home(small_build, tmp_path_factory):
    """A copy of the small build, gated and published again under ckm."""
    home = tmp_path_factory.mktemp("ckm") / "home"
    shutil.copytree(small_build, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    with environment(NNS_HOME=str(home), NNS_DISCLOSURE_METHOD="ckm", NNS_PSEUDONYM_KEY="test-key-not-secret",
                     NNS_CKM_SECRET=CKM_TEST_SECRET):
        settings = get_settings()
        stage_publication(settings)
        assert quality_gate(settings).passed
        publish_marts(settings)
        yield settings


def published(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.publish / "marts.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def warehouse(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_the_register_tables_are_perturbed_and_marked_and_the_audits_pass(ckm_home):
    path = ckm_home.publish / "marts.duckdb"
    meta = published(ckm_home, "select disclosure_method, perturbed_tables from publication").iloc[0]
    assert meta.disclosure_method == "ckm" and meta.perturbed_tables.split(", ") == REGISTER
    for name in REGISTER:
        counts = " or ".join(f"{c} between 1 and {ckm.JS}" for c in ckm.PERTURBED[name].counts)
        status, small = published(ckm_home, f"select list(distinct status), count(*) filter (where {counts}) "
                                             f"from {name}").iloc[0]
        assert list(status) == ["ok"] and small == 0, name
    assert published(ckm_home, "select count(*) from indicator_results where status = '..'").iloc[0, 0] > 0
    keys = published(ckm_home, "select count(*) from duckdb_columns() where column_name like '%cell_key%' "
                               "or column_name like '%record_key%'").iloc[0, 0]
    assert keys == 0, "cell keys and record keys are never published"
    assert audit(path, ckm_home.disclosure_threshold) == []
    report = attack_file(path, ckm_home.disclosure_threshold)
    assert report.findings == [] and not set(REGISTER) & set(report.checked)


def test_a_warehouse_keyed_under_another_secret_is_not_published(ckm_home, tmp_path):
    with (environment(NNS_HOME=str(ckm_home.home), NNS_DISCLOSURE_METHOD="ckm", NNS_CKM_SECRET="another-secret"),
          pytest.raises(PublicationRefused, match="another NNS_CKM_SECRET")):
        write_publication(get_settings(), tmp_path / "candidate.duckdb")
    assert not (tmp_path / "candidate.duckdb").exists()


def test_the_read_api_tells_readers_which_tables_are_perturbed(ckm_home):
    db = PublishedDatabase(ckm_home.published_database)
    for lang, words in (("sv", "cell key-metoden"), ("en", "Cell Key Method")):
        assert all(any(words in note for note in db.notes(lang, name)) for name in REGISTER)
        assert not any(words in note for note in db.notes(lang, "indicator_results"))


def ons(records: pd.DataFrame, tab_vars: list[str]) -> pd.Series:
    table = create_perturbed_table(records, ons_ptable(), geog=[], tab_vars=tab_vars, record_key="record_key",
                                   threshold=0)
    return table[table["count"] > 0].set_index(tab_vars)["count"].astype("int64").sort_index()


# The finest cells of each table: the people in them, from the warehouse, and the published rows.
FINEST = {
    "support_transitions": (
        ["cohort_year", "gender", "support_at_start", "support_at_end"], "participants",
        """select record_key, cohort_year, gender, support_at_start, coalesce(support_at_end, 'okänd') as support_at_end
           from intermediate.int_register__participants where end_date is not null""",
        "gender <> 'T' and support_at_start <> 'alla' and support_at_end <> 'alla'"),
    "gender_analysis": (
        ["cohort_year", "federation_code", "insats", "gender"], "participants",
        """select record_key, cohort_year, federation_code, insats, gender
           from intermediate.int_register__participants where end_date is not null""",
        "gender <> 'T' and insats <> 'alla' and federation_code <> 'RIKET'"),
    "indicator11_outcomes": (
        ["cohort_year", "followup_months", "federation_code", "gender", "insats"], "n_observed",
        """select record_key, cohort_year, followup_months, federation_code, gender, insats
           from intermediate.int_register__indicator11_followups where is_observed""",
        "gender <> 'T' and insats <> 'alla' and federation_code <> 'RIKET' and support_at_start = 'alla'"),
}


@pytest.mark.parametrize("name", list(FINEST))
def test_published_counts_equal_the_ons_reference_on_the_warehouse_record_keys(ckm_home, name):
    tab_vars, count, people, finest = FINEST[name]
    reference = ons(warehouse(ckm_home, people), tab_vars)
    ours = published(ckm_home, f"select {', '.join(tab_vars)}, {count} from {name} where {finest}")
    ours = ours.set_index(tab_vars)[count].sort_index()
    assert len(ours) > 20
    pd.testing.assert_series_equal(ours, reference, check_names=False, check_index_type=False)


def test_the_same_people_get_the_same_noise_in_every_table(ckm_home):
    both = published(ckm_home, """
        select g.cohort_year, g.participants as gender_analysis, t.participants as support_transitions
        from gender_analysis g join support_transitions t using (cohort_year)
        where g.federation_code = 'RIKET' and g.insats = 'alla' and g.gender = 'T'
          and t.gender = 'T' and t.support_at_start = 'alla' and t.support_at_end = 'alla'""")
    assert len(both) >= 3 and (both.gender_analysis == both.support_transitions).all()
    complete = published(ckm_home, "select count(*), count(*) filter (where cohort_size <> n_observed) "
                                   "from indicator11_outcomes where is_complete").iloc[0]
    assert complete.iloc[0] > 100 and complete.iloc[1] == 0, "a complete point counts the same people twice"


def test_a_rebuild_gives_every_cell_the_same_noise(ckm_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(ckm_home.home, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    with environment(NNS_HOME=str(home), NNS_DISCLOSURE_METHOD="ckm", NNS_PSEUDONYM_KEY="test-key-not-secret",
                     NNS_CKM_SECRET=CKM_TEST_SECRET):
        settings = get_settings()
        build_warehouse(settings)
        assert warehouse(settings, "select count(*) from intermediate.int_register__participants").iloc[0, 0] > 100
        rebuilt = protect_publication(settings.warehouse, settings.disclosure_threshold, "ckm")
    spec = {t.name: t for t in PUBLISHED}
    for name in REGISTER:
        before = published(ckm_home, f"select * from {name} order by {', '.join(spec[name].keys)}")
        pd.testing.assert_frame_equal(rebuilt[name].reset_index(drop=True), before, check_dtype=False)


def test_ckm_effect_on_the_register_tables(ckm_home):
    rows = measure(ckm_home)
    print("\n" + markdown(rows))
    for row in rows:
        assert row["ckm_hidden"] == 0 and row["suppression_hidden"] > 0
        assert row["ckm_published"] + row["ckm_left_out"] == row["cells"]
        assert 0 < row["mean_abs_perturbation"] <= row["max_abs_perturbation"] <= ckm.D
