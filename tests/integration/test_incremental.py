"""Only what changed: a night with a new survey file rebuilds no register model, a new register
extract rebuilds no survey model, the closing night rebuilds everything; the gate carries the
unchanged suites over; a report is rewritten only when the rows it reads changed.

The nights run in one copy of the small build (`small_build`), in order. The copy's first build
is a full one by rule (the data home moved: dbt-duckdb's staging views hold the lake's path).
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import duckdb
import pytest

from core.catalogue import load_catalogue
from core.settings import get_settings
from ingest.submission import ingest_submission
from operations import changes, steps
from publication.stage import stage_candidate
from synthetic import PROFILES
from synthetic.registers import write_register_extracts
from synthetic.surveys import write_resubmission
from tests.conftest import CKM_TEST_SECRET, environment

NIGHT = date(2023, 11, 20)  # inside the small profile's latest window (2022/23), not its last day


def _models(settings) -> set[str]:
    results = json.loads((settings.home / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}


def _dbt_ls(settings, selector: str) -> dict[str, list[str]]:
    from warehouse.dbt import run_dbt

    out = run_dbt(settings, "ls", "--selector", selector, "--resource-type", "model", "--output", "json",
                  "--output-keys", "name tags", "--quiet")
    return {n["name"]: n["tags"] for n in map(json.loads, filter(None, out.splitlines())) if "name" in n}


@pytest.fixture(scope="module")
def nights(small_build, tmp_path_factory):
    """Four dbt builds in a copy of the small build: the copy's first, a survey night, a register
    night and the closing night; the models each built, and the plan each followed."""
    home = tmp_path_factory.mktemp("incremental") / "home"
    shutil.copytree(small_build, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="test-key-not-secret", NNS_CKM_SECRET=CKM_TEST_SECRET):
        settings = get_settings()
        catalogue = load_catalogue(settings.catalogue_dir)
        profile = PROFILES["small"]
        built = {}

        def night(name, today=NIGHT, full=False):
            steps.build_warehouse(settings, today=today, full=full)
            built[name] = {"models": _models(settings), "plan": changes.read_state(settings)["built"]}

        night("moved")
        latest = profile.periods[-1]
        survey = write_resubmission(settings.inbox, profile, catalogue, "SF07", latest, seed=11)
        assert ingest_submission(survey, settings).status == "accepted"
        night("survey")
        extracts = home.parent / "extracts"
        write_register_extracts(
            extracts, n_insatser_per_year=profile.insatser_per_year,
            cohort_years=range(min(profile.cohort_years), max(profile.cohort_years) + 1),
            federation_codes_by_year={2023: [f.code for f in catalogue.federations_in("2022/23")]},
            extract_month="2024-07", seed=5)
        sus = next(extracts.glob("sus_deltagare_*.csv"))
        target = settings.inbox / "register" / sus.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(sus, target)
        assert ingest_submission(target, settings).status == "accepted"
        night("register")
        window = next(w for w in catalogue.windows if w.period == latest and w.closes_on > NIGHT)
        night("closing", today=window.closes_on)
        yield settings, built


def test_the_selectors_split_the_models_by_source(nights):
    settings, _ = nights
    surveys, registers = _dbt_ls(settings, "surveys_changed"), _dbt_ls(settings, "registers_changed")
    assert not any("register" in tags for tags in surveys.values())
    # collection_freshness reads the whole ledger and "today": every selector takes it.
    assert [name for name, tags in registers.items() if "survey" in tags] == ["collection_freshness"]
    assert {"indicator_results", "indicator_trends", "collection_status"} <= surveys.keys()
    assert {"indicator11_outcomes", "gender_analysis", "int_register__monthly_main_support"} <= registers.keys()


def test_a_moved_data_home_builds_everything(nights):
    _, built = nights
    assert built["moved"]["plan"]["selector"] is None
    assert "data home" in " ".join(built["moved"]["plan"]["reasons"])
    assert {"indicator_results", "indicator11_outcomes", "dim_federations"} <= built["moved"]["models"]


def _models_of_a_one_source_night(built, source: str, selector: str) -> set[str]:
    night = built[source]
    assert night["plan"]["selector"] == selector and night["plan"]["changed"] == [source]
    return night["models"]


def test_a_new_survey_file_rebuilds_no_register_model(nights):
    models = _models_of_a_one_source_night(nights[1], "survey", "surveys_changed")
    assert {"indicator_results", "indicator_trends", "int_survey__responses"} <= models
    assert not {m for m in models if "register" in m or m in {"indicator11_outcomes", "gender_analysis",
                                                             "support_transitions"}}
    assert not {m for m in models if "catalogue" in m or m.startswith("dim_")}


def test_a_new_register_extract_rebuilds_no_survey_model(nights):
    models = _models_of_a_one_source_night(nights[1], "register", "registers_changed")
    assert {"int_register__participants", "indicator11_outcomes", "gender_analysis"} <= models
    assert not {m for m in models if "survey" in m or m in {"indicator_results", "indicator_trends",
                                                           "collection_status", "collection_summary"}}


def test_the_closing_night_builds_everything(nights):
    _, built = nights
    night = built["closing"]
    assert night["plan"]["selector"] is None and "closes today" in " ".join(night["plan"]["reasons"])
    assert night["models"] == built["moved"]["models"]


def test_full_and_unchanged_builds_are_planned(nights):
    settings, _ = nights
    assert changes.plan_build(settings, today=NIGHT).selector == "inputs_unchanged"
    assert changes.plan_build(settings, today=NIGHT, full=True).selector is None
    assert changes.plan_build(settings, today=NIGHT + timedelta(days=1)).selector == "inputs_unchanged"


def test_the_gate_runs_only_the_suites_of_what_changed(published_home):
    """On a copy of the small build: surveys changed, so the register suites are the last gate's."""
    from expectations.gate import run_gate
    from expectations.suites import SUITE_SOURCES

    result = run_gate(published_home, stage_candidate(published_home), sources=["survey"],
                      scope="changed: survey")
    register = {s for s, source in SUITE_SOURCES.items() if source == "register"}
    always = {s for s, source in SUITE_SOURCES.items() if source is None}
    assert set(result.suites_run) == set(SUITE_SOURCES) - register
    assert always <= set(result.suites_run)
    assert {c.suite for c in result.checks if c.carried} == register and result.passed
    assert len(result.checks) == 56 and "carried over" in result.summary()
    assert not result.data_docs and not (published_home.quality_docs / "index.html").exists()
    assert "(last gate)" in (published_home.quality_docs / "gate.html").read_text()


def test_a_report_is_rewritten_only_when_what_it_prints_changed(published_home):
    """Keyed by what each document prints (report.build._edition): a row no document prints rewrites
    nothing; a national figure rewrites every document that prints it, and only those."""
    from report.build import build_reports

    settings = published_home
    chosen = ["SF07", "SF12", "SF23"]

    def rewritten(**kwargs) -> list[str]:
        build_reports(settings, federations=chosen, pdf=False, **kwargs)
        return json.loads((settings.publish / "report" / "manifest.json").read_text())["last_run"]["written"]

    first = rewritten()
    period = next(n for n in first if n.startswith("nationell-rapport-")).removeprefix("nationell-rapport-")
    assert sorted(first) == sorted([f"nationell-rapport-{period}", f"kortversion-{period}"]
                                   + [f"forbund/{c}-{period}" for c in chosen])
    assert rewritten() == []  # nothing changed
    published = settings.publish / "marts.duckdb"
    with duckdb.connect(str(published)) as con:  # a question series of one federation: no report prints it
        con.execute("""update indicator_trends set positive_share = 0.5 where rowid = (
                         select min(rowid) from indicator_trends where federation_code = 'SF07'
                           and period = (select min(period) from indicator_trends))""")
    assert rewritten() == []
    with duckdb.connect(str(published)) as con:  # the nation's result for one indicator, latest period
        code, indicator, group = con.execute("""
            select federation_code, indicator_id, respondent_group from indicator_results
            where federation_code in ('SF07', 'SF12', 'SF23') and status = 'ok' and gender = 'T'
              and period = (select max(period) from indicator_results) order by all limit 1""").fetchone()
        con.execute("""update indicator_results set positive_share = 0.5, national_positive_share = 0.5
                       where indicator_id = ? and respondent_group = ? and gender = 'T' and federation_code = 'RIKET'
                         and period = (select max(period) from indicator_results)""", [indicator, group])
        con.execute("""update indicator_results set national_positive_share = 0.5
                       where indicator_id = ? and respondent_group = ? and gender = 'T'
                         and period = (select max(period) from indicator_results)""", [indicator, group])
    report = settings.publish / "report" / "forbund" / f"{code}-{period}.html"
    before = report.read_text(encoding="utf-8")
    changed = rewritten()
    assert f"nationell-rapport-{period}" in changed and f"forbund/{code}-{period}" in changed
    assert report.read_text(encoding="utf-8") != before
    report.unlink()  # a missing file is written again
    assert rewritten() == [f"forbund/{code}-{period}"]
    assert sorted(rewritten(rewrite_all=True)) == sorted(first)  # nns report --all
