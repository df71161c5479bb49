"""Failure alerts: a clear summary, logged, and e-mailed through SMTP when configured.

The e-mail goes to a real SMTP server on loopback that the test starts itself
(tests/smtp_sink.py). That the callback also fires on a real task failure inside
Airflow is shown in test_end_to_end.py (the broken file's ingest task).
"""

from __future__ import annotations

import logging
import os
import socket
from types import SimpleNamespace

import pytest

from core.settings import REPO_ROOT, get_settings
from operations.orchestration.alerts import on_task_failure, summarise
from tests.smtp_sink import SmtpSink

REJECTION = ("REJECTED SF07_2025-26.xlsx (SF07 2025/26), submission 0123456789ab: 2 error(s), first: "
             "ANSWER_INVALID: 1 rad(er) har ett ogiltigt svar (blad Deltagare, rad 5, kolumn D03) "
             "Details: lake/quarantine/0123/errors.json. After a corrected file arrives: nns ingest <file>")


def airflow_context(dag_id="nns_collect", task_id="ingest", label="SF07_2025-26.xlsx", map_index=3,
                    error: BaseException | None = None) -> dict:
    """The parts of the context Airflow 3 passes to on_failure_callback that the alert reads."""
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, map_index=map_index, rendered_map_index=label,
                         run_id="scheduled__2026-11-20T00:30:00+00:00", try_number=1,
                         log_url="http://localhost:8080/dags/nns_collect/runs/x/tasks/ingest/mapped/3")
    return {"ti": ti, "run_id": ti.run_id, "exception": error or RuntimeError(REJECTION)}


def test_the_summary_says_what_failed_why_and_what_to_do(settings):
    alert = summarise(airflow_context(), settings)
    assert alert.subject == "[NNS] nns_collect.ingest [SF07_2025-26.xlsx] failed"
    for expected in ("DAG:    nns_collect", "map index 3: SF07_2025-26.xlsx", "scheduled__2026-11-20T00:30:00+00:00",
                     "try 1", "RuntimeError", "ANSWER_INVALID", "lake/quarantine/0123/errors.json",
                     f"nns ingest {settings.home}/inbox/", "Log: http://localhost:8080/"):
        assert expected in alert.body, expected


def test_a_long_error_is_cut_to_its_first_lines(settings):
    error = RuntimeError("\n".join(f"line {i}" for i in range(40)))
    body = summarise(airflow_context(error=error), settings).body
    assert "line 7" in body and "line 8" not in body and "32 more lines" in body


@pytest.mark.parametrize("dag_id, task_id, next_command", [
    ("nns_build", "dbt_build", "nns build"),
    ("nns_build", "publish", "nns build"),
    ("nns_build", "quality_gate", "publish/quality"),
    ("nns_build", "reports", "nns report"),
    ("nns_registers", "ingest", "inbox/register/"),
    ("nns_collect", "new_files", "clear the task"),
])
def test_each_task_names_its_next_step(settings, dag_id, task_id, next_command):
    context = airflow_context(dag_id, task_id, label=None, map_index=-1, error=RuntimeError("boom"))
    alert = summarise(context, settings)
    assert alert.subject == f"[NNS] {dag_id}.{task_id} failed"
    assert next_command in alert.body.split("Next:")[1]


def test_the_alert_is_emailed_when_smtp_is_configured(settings, monkeypatch):
    with SmtpSink() as sink:
        monkeypatch.setenv("NNS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("NNS_SMTP_PORT", str(sink.port))
        monkeypatch.setenv("NNS_SMTP_FROM", "nns@example.org")
        monkeypatch.setenv("NNS_SMTP_TO", "drift@example.org, samordnare@example.org")
        monkeypatch.setenv("NNS_SMTP_USER", "nns")
        monkeypatch.setenv("NNS_SMTP_PASSWORD", "not-a-real-password")
        on_task_failure(airflow_context())
        messages = sink.messages
    assert len(messages) == 1
    received = messages[0]
    assert received.recipients == ["drift@example.org", "samordnare@example.org"]
    assert received.sender == "nns@example.org" and received.login == "nns"
    assert received.message["Subject"] == "[NNS] nns_collect.ingest [SF07_2025-26.xlsx] failed"
    body = received.message.get_content()
    assert "ANSWER_INVALID" in body and "Next:" in body and "nns ingest" in body


def test_without_smtp_the_summary_is_only_logged(settings, caplog):
    assert get_settings().smtp_host is None
    with caplog.at_level(logging.INFO, logger="operations.orchestration.alerts"):
        on_task_failure(airflow_context())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "ANSWER_INVALID" in errors[0].getMessage()
    assert not any("e-mailed" in r.getMessage() for r in caplog.records)


def test_a_mail_server_that_is_down_is_logged_not_raised(settings, monkeypatch, caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NNS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NNS_SMTP_PORT", str(port))
    monkeypatch.setenv("NNS_SMTP_TO", "drift@example.org")
    with caplog.at_level(logging.INFO, logger="operations.orchestration.alerts"):
        on_task_failure(airflow_context())
    assert any("could not be e-mailed" in r.getMessage() for r in caplog.records)


def test_every_task_of_every_dag_has_the_callback(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    tasks = [task for dag in bag.dags.values() for task in dag.tasks]
    assert len(tasks) >= 9
    for task in tasks:
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert on_task_failure in callbacks, f"{task.dag_id}.{task.task_id} has no failure alert"
