"""`nns status` under "Recent operator actions": Airflow's event log through /api/v2.

A small HTTP server on loopback answers as an api-server would (token, event log),
so what `operations.status` asks for and how it renders what it gets are checked
without Airflow; the real deployment test reads the real event log.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.settings import REPO_ROOT
from operations.orchestration import rest_api
from operations.status import operator_actions, render_text, status_report

ENTRIES = [
    {"event_log_id": 9, "when": "2026-11-30T02:10:11Z", "owner": "anna", "event": "trigger_dag_run",
     "dag_id": "nns_collect", "run_id": None,
     "extra": json.dumps({"conf": {"federation": "SF07", "force": True}, "note": "nns rerun by anna",
                          "method": "POST"})},
    {"event_log_id": 7, "when": "2026-11-30T01:55:00Z", "owner": "anna", "event": "post_clear_task_instances",
     "dag_id": "nns_collect", "run_id": "scheduled__2026-11-29",
     "extra": json.dumps({"task_ids": [["ingest", 3]], "dry_run": False, "method": "POST"})},
]


@pytest.fixture
def api_server():
    seen = {"queries": [], "refuse": None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/auth/token" and body == {"username": "anna", "password": "right"}:
                return self.answer(201, {"access_token": "t0ken"})
            return self.answer(401, {"detail": "Invalid credentials"})

        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            if self.headers.get("Authorization") != "Bearer t0ken":
                return self.answer(401, {"detail": "Not authenticated"})
            if seen["refuse"]:
                return self.answer(seen["refuse"], {"detail": "Forbidden"})
            seen["queries"].append(urllib.parse.parse_qs(url.query))
            return self.answer(200, {"event_logs": ENTRIES, "total_entries": len(ENTRIES)})

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["url"] = f"http://127.0.0.1:{server.server_port}"
    yield seen
    server.shutdown()
    server.server_close()


def test_without_a_deployment_there_is_no_section(settings):
    assert operator_actions(settings) is None
    assert "Recent operator actions" not in render_text(status_report(settings, date(2026, 12, 1)))


def test_the_event_log_shows_who_did_what_newest_first(settings, api_server):
    configured = dataclasses.replace(settings, airflow_api_url=api_server["url"], airflow_user="anna",
                                     airflow_password="right")
    actions = operator_actions(configured)
    query = api_server["queries"][0]
    assert set(query["included_events"]) == set(rest_api.OPERATOR_EVENTS) and query["order_by"] == ["-when"]
    assert [(a["who"], a["event"]) for a in actions["actions"]] == [("anna", "trigger_dag_run"),
                                                                     ("anna", "post_clear_task_instances")]
    text = render_text(status_report(configured, date(2026, 12, 1)))
    section = text.split("Recent operator actions")[1]
    assert "2026-11-30 03:10 CET  anna         trigger_dag_run" in section  # local time with its zone
    assert '"force": true' in section and '[["ingest", 3]]' in section and "scheduled__2026-11-29" in section


@pytest.mark.parametrize(("password", "refuse", "says"), [("wrong", None, "401"), ("right", 403, "403")])
def test_a_refused_event_log_says_so_and_status_still_answers(settings, api_server, password, refuse, says):
    api_server["refuse"] = refuse
    configured = dataclasses.replace(settings, airflow_api_url=api_server["url"], airflow_user="anna",
                                     airflow_password=password)
    text = render_text(status_report(configured, date(2026, 12, 1)))
    section = text.split("Recent operator actions")[1]
    assert "not available" in section and says in section


def test_the_audited_events_are_the_documented_ones():
    docs = (REPO_ROOT / "docs" / "deployment.md").read_text()
    for event in rest_api.OPERATOR_EVENTS:
        assert f"`{event}`" in docs, f"docs/deployment.md does not list the audited event {event}"


def test_set_asides_and_releases_are_operator_actions_without_a_deployment(settings):
    """`nns quarantine` is recorded in the lake, so it is in the audit trail even with no Airflow API."""
    from core import ledger, set_aside

    submission = "ab" * 32
    ledger.write_record(settings, ledger.LedgerRecord(
        submission_id=submission, source=ledger.SURVEY, file_name="SF07_2025-26.xlsx", status=ledger.ACCEPTED,
        received_at="2026-11-02T08:00:00+00:00", ingested_at="2026-11-02T08:00:01+00:00",
        federation_code="SF07", period="2025/26"))
    assert operator_actions(settings) is None, "nothing to show: no deployment, nothing set aside"
    set_aside.set_aside(settings, submission, "answers shifted one column", by="anna")
    set_aside.release(settings, submission, by="bertil")
    actions = operator_actions(settings)
    assert actions["error"] is None
    assert [(a["who"], a["event"]) for a in actions["actions"]] == [("bertil", "release"), ("anna", "set_aside")]
    assert "answers shifted one column" in actions["actions"][1]["what"]
    text = render_text(status_report(settings, date(2026, 11, 20)))
    assert "anna" in text.split("Recent operator actions")[1] and "set_aside" in text
