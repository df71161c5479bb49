"""The deployment's roles and its users file (operations.orchestration.access), without a database.

The real deployment test (tests/integration/test_deployment.py) provisions these users
into a running Airflow and proves what each role may do through /api/v2.
"""

from __future__ import annotations

import json

import pytest

from core.settings import REPO_ROOT
from operations.orchestration import access

GOOD = [{"username": "platform", "role": "admin", "password": "a-long-admin-password"},
        {"username": "anna", "role": "Operator", "password": "a-long-operator-password", "email": "anna@nns.se",
         "name": "Anna Andersson"},
        {"username": "coordinator", "role": "viewer", "password": "a-long-viewer-password"}]


def write(tmp_path, users) -> object:
    path = tmp_path / "airflow_users"
    path.write_text(json.dumps(users) if not isinstance(users, str) else users)
    return path


def test_a_users_file_gives_each_user_a_role_and_never_shows_a_password(tmp_path):
    users = access.load_users(write(tmp_path, GOOD))
    assert [(u.username, u.role) for u in users] == [("platform", "admin"), ("anna", "operator"),
                                                     ("coordinator", "viewer")]
    assert users[1].email == "anna@nns.se" and users[0].email == "platform@nns.invalid"
    assert "password" not in repr(users) and "a-long" not in repr(users)


@pytest.mark.parametrize(("users", "complaint"), [
    ([{**GOOD[0], "role": "superuser"}], "unknown role"),
    ([{**GOOD[0], "password": "short"}], "shorter than"),
    ([GOOD[0], {**GOOD[0], "username": "PLATFORM"}], "listed twice"),
    ([GOOD[1], GOOD[2]], "no admin"),
    ([{"username": "x", "role": "admin"}], "needs a username, a role and a password"),
    ([], "non-empty"),
    ("{not json", "not JSON"),
])
def test_a_users_file_that_would_lock_out_or_let_in_the_wrong_people_is_refused(tmp_path, users, complaint):
    with pytest.raises(access.UsersFileError, match=complaint):
        access.load_users(write(tmp_path, users))


def test_a_missing_users_file_says_where_to_look(tmp_path, capsys):
    assert access.main([str(tmp_path / "nowhere"), "--check"]) == 2
    assert "docs/deployment.md" in capsys.readouterr().err
    assert access.main([str(write(tmp_path, GOOD)), "--check"]) == 0
    assert "3 users, 1 admin, 1 operator, 1 viewer" in capsys.readouterr().out


def test_the_operator_may_trigger_and_clear_and_the_viewer_only_read():
    fab_viewer = [("can_read", "DAGs"), ("can_read", "DAG Runs"), ("can_read", "Task Instances"),
                  ("can_read", "Task Logs")]
    roles = access.role_permissions(fab_viewer)
    viewer, operator = set(roles[access.ROLES["viewer"]]), set(roles[access.ROLES["operator"]])
    assert viewer <= operator
    assert {a for a, _ in viewer} <= {"can_read", "menu_access"}, "the viewer changes nothing"
    assert ("can_read", "Audit Logs") in viewer, "coordinators may read who did what"
    assert {("can_create", "DAG Runs"), ("can_edit", "Task Instances")} <= operator - viewer
    assert not {r for _, r in operator} & {"Connections", "Variables", "Users", "Roles", "Pools", "Configurations"}
    assert not any(a == "can_delete" for a, _ in operator), "operators delete nothing"


def test_the_roles_in_the_docs_are_the_roles_in_the_code():
    docs = (REPO_ROOT / "docs" / "deployment.md").read_text()
    for role, fab_role in access.ROLES.items():
        assert f"| `{role}` | `{fab_role}`" in docs, f"docs/deployment.md does not document role {role}"
