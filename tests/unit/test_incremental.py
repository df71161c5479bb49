"""What a night builds (operations.changes), and what parsing the DAG files costs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from core.catalogue import load_catalogue
from core.settings import REPO_ROOT, get_settings
from operations import changes

DAY = date(2025, 11, 20)  # inside the 2025/26 autumn window, not its last day


def _record(settings, submission_id: str, source: str, **extra) -> None:
    settings.ledger.mkdir(parents=True, exist_ok=True)
    record = {"submission_id": submission_id, "source": source, "status": "accepted", "file_name": "SF01_2025-26.xlsx",
              "received_at": "2025-11-01T08:00:00+00:00", "ingested_at": "2025-11-01T08:00:00+00:00", **extra}
    (settings.ledger / f"{submission_id}.json").write_text(json.dumps(record) + "\n")


@pytest.fixture
def built(settings):
    """A data home with one survey and one register record, recorded as built (a fake warehouse)."""
    _record(settings, "a" * 64, "survey")
    _record(settings, "b" * 64, "register_sus")
    settings.warehouse.write_bytes(b"warehouse")
    plan = changes.plan_build(settings, today=DAY)
    assert plan.full and "no earlier build is recorded" in plan.reasons
    changes.record_built(settings, plan, changes.warehouse_identity(settings))
    return settings


def test_nothing_changed_uses_the_smallest_selector(built):
    plan = changes.plan_build(built, today=DAY)
    assert plan.selector == "inputs_unchanged" and plan.changed == []
    assert plan.dbt_args() == ["build", "--selector", "inputs_unchanged"]


def test_a_new_survey_file_selects_the_survey_models(built):
    _record(built, "c" * 64, "survey")
    plan = changes.plan_build(built, today=DAY)
    assert (plan.selector, plan.changed) == ("surveys_changed", ["survey"])


def test_a_new_extract_selects_the_register_models(built):
    _record(built, "c" * 64, "register_income")
    assert changes.plan_build(built, today=DAY).selector == "registers_changed"


def test_a_rejected_or_rewritten_record_counts_too(built):
    _record(built, "a" * 64, "survey", status="rejected")
    assert changes.plan_build(built, today=DAY).selector == "surveys_changed"


def test_setting_a_submission_aside_changes_its_source(built):
    folder = built.lake / "set_aside"
    folder.mkdir(parents=True)
    (folder / f"{'b' * 64}.json").write_text(json.dumps({"submission_id": "b" * 64, "state": "set_aside"}))
    assert changes.plan_build(built, today=DAY).selector == "registers_changed"


def test_both_sources_changed_builds_everything(built):
    _record(built, "c" * 64, "survey")
    _record(built, "d" * 64, "register_sus")
    plan = changes.plan_build(built, today=DAY)
    assert plan.full and plan.reasons == ["surveys and registers both changed"]
    assert plan.dbt_args() == ["build"]


def test_full_and_the_closing_night_build_everything(built):
    assert changes.plan_build(built, today=DAY, full=True).full
    window = next(w for w in load_catalogue(built.catalogue_dir).windows if w.period == "2025/26")
    plan = changes.plan_build(built, today=window.closes_on)
    assert plan.full and "closes today" in plan.reasons[0]


def test_a_changed_warehouse_or_setting_builds_everything(built, monkeypatch):
    built.warehouse.write_bytes(b"changed by hand")
    assert "warehouse" in changes.plan_build(built, today=DAY).reasons[0]
    changes.record_built(built, changes.plan_build(built, today=DAY), changes.warehouse_identity(built))
    assert not changes.plan_build(built, today=DAY).full
    monkeypatch.setenv("NNS_DISCLOSURE_THRESHOLD", "7")
    assert "dbt project" in changes.plan_build(get_settings(), today=DAY).reasons[0]


def test_a_changed_model_builds_everything(built, tmp_path, monkeypatch):
    import dataclasses
    import shutil

    project = tmp_path / "dbt_project"
    shutil.copytree(REPO_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    moved = dataclasses.replace(built, dbt_project_dir=project)
    changes.record_built(moved, changes.plan_build(moved, today=DAY), changes.warehouse_identity(moved))
    assert not changes.plan_build(moved, today=DAY).full
    model = project / "models" / "marts" / "survey" / "indicator_results.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    assert changes.plan_build(moved, today=DAY).full


def test_the_gate_scope_follows_what_was_published(built):
    assert changes.gate_scope(built).sources == ["survey", "register"]  # nothing published yet
    changes.record_published(built)
    assert changes.gate_scope(built).sources == ["survey", "register"]  # the last build was a full one
    _record(built, "c" * 64, "survey")
    changes.record_built(built, changes.plan_build(built, today=DAY), changes.warehouse_identity(built))
    assert changes.gate_scope(built).sources == ["survey"]
    built.warehouse.write_bytes(b"rebuilt outside a recorded build")
    assert changes.gate_scope(built).sources == ["survey", "register"]


def test_publish_records_the_build_only_if_the_warehouse_is_that_build(built):
    changes.record_published(built)
    assert changes.read_state(built)["published"]["fingerprints"] == changes.read_state(built)["built"]["fingerprints"]
    built.warehouse.write_bytes(b"another warehouse")
    changes.record_published(built)
    assert "published" not in changes.read_state(built)


@pytest.fixture
def published(built):
    """`built`, published: the fake warehouse promoted as the published file."""
    built.published_database.parent.mkdir(parents=True, exist_ok=True)
    built.published_database.write_bytes(b"published")
    changes.record_published(built)
    return built


def _arrival(settings, submission_id: str, received_at: str) -> None:
    _record(settings, submission_id, "survey", received_at=received_at, ingested_at=received_at)


def test_a_night_with_nothing_new_builds_nothing(published):
    assert "nothing changed since the publication" in changes.unchanged_since_publication(published, today=DAY)
    # A later night of the same window, with no file arrived since the publication's day: still nothing.
    assert changes.unchanged_since_publication(published, today=date(2025, 11, 25))


@pytest.mark.parametrize("change", ["new file", "set aside", "setting", "published file", "closing night",
                                    "new window", "arrived since", "nothing published"])
def test_anything_a_build_would_publish_differently_builds(published, monkeypatch, change):
    settings, today = published, DAY
    if change == "new file":
        _record(settings, "c" * 64, "survey")
    elif change == "set aside":
        (settings.lake / "set_aside").mkdir(parents=True)
        (settings.lake / "set_aside" / f"{'a' * 64}.json").write_text("{}")
    elif change == "setting":
        monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "suppression")
        settings = get_settings()
    elif change == "published file":
        settings.published_database.write_bytes(b"replaced by hand")
    elif change == "closing night":
        today = next(w for w in load_catalogue(settings.catalogue_dir).windows if w.period == "2025/26").closes_on
    elif change == "new window":  # collection_freshness shows the latest window that opened
        today = min(w.opens_on for w in load_catalogue(settings.catalogue_dir).windows if w.opens_on > DAY)
    elif change == "arrived since":  # a file the publication's day did not count as arrived yet
        _arrival(settings, "a" * 64, "2025-11-22T08:00:00+00:00")
        changes.record_built(settings, changes.plan_build(settings, today=DAY), changes.warehouse_identity(settings))
        changes.record_published(settings)
        assert changes.unchanged_since_publication(settings, today=DAY)
        today = date(2025, 11, 23)
    elif change == "nothing published":
        settings.fingerprints.unlink()
    assert changes.unchanged_since_publication(settings, today=today) is None


def test_the_plan_step_records_its_decision_and_full_always_builds(published):
    from operations import steps
    from operations.build_log import read_build_status

    assert steps.nothing_to_build(published, today=DAY)
    entry = read_build_status(published)["steps"]["plan"]
    assert entry["status"] == "success" and entry["decision"].startswith("nothing to build: nothing changed")
    assert steps.nothing_to_build(published, today=DAY, full=True) is None
    assert read_build_status(published)["steps"]["plan"]["decision"].startswith("build: a full build")
    assert steps.nothing_to_build(published, today=DAY, all_reports=True) is None  # the reports skip too


HEAVY = ("great_expectations", "report", "scipy")


@pytest.mark.parametrize("dag_file", sorted(p.name for p in (REPO_ROOT / "dags").glob("*.py")))
def test_parsing_a_dag_file_imports_no_gx_report_or_scipy(dag_file):
    """The DAG processor parses every file often, and every task process imports it first."""
    code = (f"import runpy, sys, json; runpy.run_path({str(REPO_ROOT / 'dags' / dag_file)!r}); "
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_task_functions_import_no_gx_report_or_scipy():
    code = ("import sys, json, operations.orchestration.tasks; "
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_every_suite_has_a_source():
    from expectations.suites import SUITE_DEFINITIONS, SUITE_SOURCES

    assert SUITE_SOURCES.keys() == SUITE_DEFINITIONS.keys()
    assert set(SUITE_SOURCES.values()) == {"survey", "register", None}


def test_a_change_to_the_report_code_is_not_a_night_with_nothing_new(published, monkeypatch):
    """The plan skips the reports too: a new report version must make the night build."""
    real = changes._code_fingerprint
    monkeypatch.setattr(changes, "_code_fingerprint",
                        lambda patterns: "edited" if patterns == changes.REPORT_FILES else real(patterns))
    assert changes.unchanged_since_publication(published, today=DAY) is None


def test_the_code_fingerprints_ignore_compiled_bytecode(tmp_path, monkeypatch):
    monkeypatch.setattr(changes, "REPO_ROOT", tmp_path)
    (tmp_path / "report" / "__pycache__").mkdir(parents=True)
    (tmp_path / "report" / "build.py").write_text("x = 1\n")
    before = changes._code_fingerprint(changes.REPORT_FILES)
    (tmp_path / "report" / "__pycache__" / "build.cpython-311.pyc").write_bytes(b"compiled")
    assert changes._code_fingerprint(changes.REPORT_FILES) == before
    (tmp_path / "report" / "build.py").write_text("x = 2\n")
    assert changes._code_fingerprint(changes.REPORT_FILES) != before
