"""The Cell Key Method, the default, on the small profile: the gate passes and publishes every protected
table perturbed, whose counts equal the ONS reference implementation's on the warehouse's own record keys,
with the same noise for the same people in every table and every rebuild, and the same keys for the same
questionnaires whatever other federations send. Also prints both methods side by side (bench.methods)."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest
from cell_key_perturbation.create_perturbed_table import create_perturbed_table

from bench.methods import markdown, measure
from core.catalogue import load_catalogue
from core.settings import get_settings
from ingest.submission import ingest_submission
from operations.steps import build_warehouse
from publication import ckm
from publication.attack import attack_file
from publication.audit import audit
from publication.candidate import PublicationRefused
from publication.protect import protect_publication
from publication.reader import PublishedDatabase
from publication.spec import PUBLISHED
from publication.stage import write_publication
from synthetic import PROFILES
from synthetic.surveys import write_resubmission
from tests.conftest import CKM_TEST_SECRET, environment
from tests.unit.test_ckm import ons_ptable

PERTURBED = ckm.perturbed_tables("ckm")
REGISTER = ["indicator11_outcomes", "gender_analysis", "support_transitions"]


@pytest.fixture(scope="module")
def ckm_home(small_build, tmp_path_factory):
    """A copy of the small build: built, gated and published under the default method."""
    home = tmp_path_factory.mktemp("ckm") / "home"
    shutil.copytree(small_build, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="test-key-not-secret", NNS_CKM_SECRET=CKM_TEST_SECRET):
        yield get_settings()


def published(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.published_database), read_only=True) as con:
        return con.execute(sql).df()


def warehouse(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_every_protected_table_is_perturbed_and_marked_and_the_audits_pass(ckm_home):
    path = ckm_home.published_database
    meta = published(ckm_home, "select disclosure_method, perturbed_tables from publication").iloc[0]
    assert meta.disclosure_method == "ckm" and meta.perturbed_tables.split(", ") == PERTURBED
    for name in PERTURBED:
        counts = " or ".join(f"{c} between 1 and {ckm.JS}" for c in ckm.PERTURBED[name].counts
                             if c in {t.name: t for t in PUBLISHED}[name].columns)
        status, small = published(ckm_home, f"select list(distinct status), count(*) filter (where {counts}) "
                                             f"from {name}").iloc[0]
        assert small == 0, name
        assert set(status) <= ({"ok"} if name in REGISTER else {"ok", ".."}), name
    # Withheld for quality only: a '..' row's count was perturbed below the threshold, so it is at most D.
    with duckdb.connect() as con:
        con.execute(f"attach '{ckm_home.warehouse}' as w (read_only)")
        con.execute(f"attach '{path}' as p (read_only)")
        withheld, largest = con.execute("""
            select count(*), max(w.n) from p.indicator_results p
            join w.marts.indicator_results w using (period, respondent_group, indicator_id, federation_code, gender)
            where p.status = '..'""").fetchone()
    assert withheld > 0 and largest <= ckm.D
    keys = published(ckm_home, "select count(*) from duckdb_columns() where column_name like '%cell_key%' "
                               "or column_name like '%record_key%' or column_name = 'answer_counts' "
                               "or column_name = 'positive_answers'").iloc[0, 0]
    assert keys == 0, "cell keys, record keys and the counts behind the shares are never published"
    assert audit(path, ckm_home.disclosure_threshold) == []
    report = attack_file(path, ckm_home.disclosure_threshold)
    assert report.findings == [] and set(PERTURBED) <= set(report.checked)


def test_a_warehouse_keyed_under_another_secret_is_not_published(ckm_home, tmp_path):
    with (environment(NNS_HOME=str(ckm_home.home), NNS_CKM_SECRET="another-secret"),
          pytest.raises(PublicationRefused, match="another NNS_CKM_SECRET")):
        write_publication(get_settings(), tmp_path / "candidate.duckdb")
    assert not (tmp_path / "candidate.duckdb").exists()


def test_the_read_api_tells_readers_which_tables_are_perturbed(ckm_home):
    db = PublishedDatabase(ckm_home.published_database)
    for lang, words in (("sv", "cell key-metoden"), ("en", "Cell Key Method")):
        assert all(any(words in note for note in db.notes(lang, name)) for name in PERTURBED)


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
    # A single-question indicator's trend cell counts the same questionnaires as its result cell.
    shared = published(ckm_home, """
        with single as (
            select period, respondent_group, indicator_id from indicator_trends
            group by all having count(distinct comparability_key) = 1)
        select r.n as result_n, t.n as trend_n
        from indicator_results r
        join indicator_trends t using (period, respondent_group, indicator_id, federation_code, gender)
        join single using (period, respondent_group, indicator_id)
        join federations f on f.federation_code = r.federation_code
        where f.reporting_federation_code = r.federation_code and r.status = 'ok'""")
    assert len(shared) > 100 and (shared.result_n == shared.trend_n).all()


def test_a_rebuild_gives_every_cell_the_same_noise(ckm_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(ckm_home.home, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="test-key-not-secret", NNS_CKM_SECRET=CKM_TEST_SECRET):
        settings = get_settings()
        build_warehouse(settings, full=True)
        assert warehouse(settings, "select count(*) from intermediate.int_register__participants").iloc[0, 0] > 100
        rebuilt = protect_publication(settings.warehouse, settings.disclosure_threshold, "ckm", CKM_TEST_SECRET)
    spec = {t.name: t for t in PUBLISHED}
    for name in PERTURBED:
        before = published(ckm_home, f"select * from {name} order by {', '.join(spec[name].keys)}")
        pd.testing.assert_frame_equal(rebuilt[name].reset_index(drop=True), before, check_dtype=False)


def test_a_questionnaire_keeps_its_key_when_another_federation_sends_a_file(ckm_home, tmp_path):
    """A new file for one federation changes no other questionnaire's key, so no other federation's cell."""
    home = tmp_path / "home"
    shutil.copytree(ckm_home.home, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    keys = "select respondent_id, record_hash from intermediate.int_survey__record_keys"
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="test-key-not-secret", NNS_CKM_SECRET=CKM_TEST_SECRET):
        settings = get_settings()
        before = warehouse(settings, keys).set_index("respondent_id").record_hash
        period = warehouse(settings, "select max(period) from marts.indicator_results").iloc[0, 0]
        changed = warehouse(settings, "select min(federation_code) from marts.indicator_results "
                                      f"where period = '{period}' and federation_code <> 'RIKET'").iloc[0, 0]
        new_file = write_resubmission(settings.inbox, PROFILES["small"], load_catalogue(settings.catalogue_dir),
                                      changed, period, seed=11)
        assert ingest_submission(new_file, settings).status == "accepted"
        build_warehouse(settings)
        after = warehouse(settings, keys).set_index("respondent_id").record_hash
        rebuilt = protect_publication(settings.warehouse, settings.disclosure_threshold, "ckm", CKM_TEST_SECRET)
    kept = before.index.intersection(after.index)
    assert len(kept) > 0.8 * len(before) and (before[kept] == after[kept]).all()
    results = published(ckm_home, f"select * from indicator_results where period = '{period}' "
                                  f"and federation_code not in ('RIKET', '{changed}') order by all")
    again = rebuilt["indicator_results"]
    again = again[(again.period == period) & ~again.federation_code.isin(["RIKET", changed])]
    # The nation's figures move with the new file, and so, a little, do the intervals (the nation's design effect).
    moving = ["national_positive_share", "national_mean_score", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(again.drop(columns=moving).sort_values(list(again.columns[:6]))
                                  .reset_index(drop=True),
                                  results.drop(columns=moving).sort_values(list(results.columns[:6]))
                                  .reset_index(drop=True), check_dtype=False)


def test_both_methods_side_by_side(ckm_home):
    result = measure(ckm_home)
    print("\n" + "\n".join(markdown(result)))
    assert result["ckm"]["findings"] == 0 and result["suppression"]["findings"] == 0
    shown = {m: {r["table"]: r for r in result[m]["usefulness"]} for m in result}
    for name in ("indicator_results", "indicator11_outcomes"):
        assert shown["ckm"][name]["shown"] > shown["suppression"][name]["shown"], name
        assert shown["ckm"][name]["hidden_other"] <= shown["suppression"][name]["hidden_other"], name
    assert shown["suppression"]["indicator_results"]["mean_abs_change"] == 0
    assert 0 < shown["ckm"]["indicator_results"]["mean_abs_change"] <= ckm.D
