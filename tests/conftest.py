"""Shared fixtures: an isolated data home per test, the catalogue, and a way to
write a valid submission and then break it on purpose."""

from __future__ import annotations

import contextlib
import os
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from core.catalogue import load_catalogue
from core.settings import REPO_ROOT, get_settings
from ingest.template import Respondent, SubmissionContent, write_workbook

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Files written by a test are complete when the test offers them; tests/unit/test_inbox.py sets its own.
os.environ.setdefault("NNS_STABLE_SECONDS", "0")
# The Cell Key Method (the default) publishes only under a secret of the operator's own.
CKM_TEST_SECRET = "test-ckm-secret"
os.environ.setdefault("NNS_CKM_SECRET", CKM_TEST_SECRET)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NNS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NNS_PSEUDONYM_KEY", "test-key-not-secret")
    s = get_settings()
    s.inbox.mkdir(parents=True)
    return s


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue(REPO_ROOT / "dbt_project" / "seeds")


def sample_content(federation="SF07", period="2025/26", n=6) -> SubmissionContent:
    """A small valid submission: deltagare and styrelse rows plus collection counts."""
    content = SubmissionContent(federation, period)
    first_day = date(int(period[:4]), 11, 15)
    content.respondents["deltagare"] = [
        Respondent(i, first_day, ["Kvinna", "Man"][i % 2],
                   {"D01": 4, "D02": 5, "D03": "Alltid", "D04": 6, "D04B": "Vet ej", "D04C": None,
                    "D05": 2, "D16": 3},
                   age_group="25-39", insats="STEG1")
        for i in range(1, n + 1)
    ]
    content.respondents["styrelse"] = [
        Respondent(i, first_day, "Kvinna", {"S01": 5, "S02": 4, "S03": 3, "S04": 6, "S16": 5})
        for i in range(1, 4)
    ]
    content.collection = {"deltagare": (n * 2, n), "styrelse": (4, 3)}
    return content


@pytest.fixture
def write_submission(settings, catalogue):
    """write_submission(name, content=None, edit=None) -> path in the inbox.

    `edit(workbook)` gets an openpyxl workbook to break the file in a precise way.
    """

    def _write(name: str, content: SubmissionContent | None = None, edit=None) -> Path:
        path = settings.inbox / name
        content = content or sample_content()
        write_workbook(path, content, catalogue, with_guidance=False)
        if edit:
            wb = openpyxl.load_workbook(path)
            edit(wb)
            wb.save(path)
        return path

    return _write


@contextlib.contextmanager
def environment(**values):
    """Set environment variables for a block (session fixtures cannot use monkeypatch)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v



@pytest.fixture(scope="session")
def small_build(tmp_path_factory):
    """The small profile ingested, built, gated and published once per session, without Airflow.

    Returns its data home; tests that change anything copy it first (see `published_home`).
    """
    from ingest.submission import ingest_submission, waiting_extracts, waiting_surveys
    from operations.steps import build_warehouse, publish_marts, quality_gate, stage_publication
    from synthetic import generate

    home = tmp_path_factory.mktemp("small-build")
    # The CKM secret of the ckm tests (tests/integration/test_ckm.py), so they can publish this warehouse.
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="test-key-not-secret", NNS_CKM_SECRET=CKM_TEST_SECRET):
        s = get_settings()
        generate("small", s.inbox, s, registers=True)
        for path in waiting_surveys(s):
            ingest_submission(path, s)
        for path in waiting_extracts(s):
            assert ingest_submission(path, s).status == "accepted"
        build_warehouse(s)
        stage_publication(s)
        quality_gate(s)
        publish_marts(s)
    return home


@pytest.fixture
def published_home(small_build, tmp_path, monkeypatch):
    """A private copy of the small build's data home, with settings pointing at it."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(small_build, home, symlinks=True, ignore=shutil.ignore_patterns("airflow"))
    monkeypatch.setenv("NNS_HOME", str(home))
    return get_settings()


def pytest_collection_modifyitems(items):
    """Mark each test by its folder: `pytest -m unit` is the fast loop (`make test-fast`)."""
    for item in items:
        level = "integration" if "integration" in item.path.parts else "unit"
        item.add_marker(getattr(pytest.mark, level))
