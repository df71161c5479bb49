"""Who may do what in a deployment: three roles, and the users from a secret file.

The deployment uses Airflow's FAB auth manager (apache-airflow-providers-fab): users
and roles live in Airflow's metadata database, passwords only as hashes. This module
is the one home of the roles, and it makes the database match a users file at every
deployment start (`python -m operations.orchestration.access USERS_FILE`, run by airflow-init and by
the deployment test), so access is configuration, not clicks in the UI:

| role in the users file | FAB role | may |
|---|---|---|
| `admin` | `Admin` (FAB's own) | everything, users and roles included |
| `operator` | `NNS operator` | what a viewer may; trigger runs, clear and mark task instances, (un)pause DAGs |
| `viewer` | `NNS viewer` | read DAGs, runs, task instances, task logs and the event log; change nothing |

The users file (a Compose secret, never in the repository) is JSON: a list of
`{"username", "role", "password"}` objects, optionally with `"email"` and `"name"`.
Users it lists are created or updated (role, password, active); users it no longer
lists are deactivated, never deleted, so the event log keeps naming them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ADMIN_ROLE = "Admin"  # FAB's built-in role with every permission

# (action, resource) pairs, spelled as FAB spells them (airflow.providers.fab.www.security.permissions).
# The viewer starts from FAB's own Viewer permissions (read everything a DAG has, task logs included);
# both roles below add to it. `provision` refuses a pair FAB does not know.
READ_AUDIT_LOG = [("can_read", "Audit Logs"), ("menu_access", "Audit Logs")]
OPERATOR_EXTRA = [
    ("can_edit", "DAGs"),  # pause and unpause; FAB also asks it of any change to a DAG's runs or tasks
    ("can_create", "DAG Runs"),  # trigger
    ("can_edit", "DAG Runs"),  # clear a run, notes, mark a run
    ("can_create", "Task Instances"),
    ("can_edit", "Task Instances"),  # clear, mark success or failed
]

ROLES = {"admin": ADMIN_ROLE, "operator": "NNS operator", "viewer": "NNS viewer"}
MIN_PASSWORD_LENGTH = 12


class UsersFileError(ValueError):
    """The users file is missing, unreadable or says something we will not do."""


@dataclass(frozen=True)
class User:
    username: str
    role: str  # admin | operator | viewer
    password: str
    email: str
    name: str

    def __repr__(self) -> str:  # never print a password
        return f"User({self.username!r}, {self.role!r})"


def load_users(path: Path) -> list[User]:
    """The users file, checked: known roles, long passwords, unique names, at least one admin."""
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsersFileError(f"no users file at {path} (docs/deployment.md, 'Users and roles')") from None
    except json.JSONDecodeError as exc:
        raise UsersFileError(f"the users file {path} is not JSON: line {exc.lineno}") from None
    if not isinstance(entries, list) or not entries:
        raise UsersFileError(f"the users file {path} must be a non-empty JSON list of users")
    users, seen = [], set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry.get(k)
                                                  for k in ("username", "role", "password")):
            raise UsersFileError(f"user {number} in {path} needs a username, a role and a password")
        username, role, password = entry["username"].strip(), entry["role"].strip().lower(), entry["password"]
        if role not in ROLES:
            raise UsersFileError(f"user {username}: unknown role {role!r} (one of {', '.join(ROLES)})")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UsersFileError(f"user {username}: the password is shorter than {MIN_PASSWORD_LENGTH} characters")
        if username.lower() in seen:
            raise UsersFileError(f"user {username} is listed twice")
        seen.add(username.lower())
        users.append(User(username, role, password, entry.get("email") or f"{username}@nns.invalid",
                          entry.get("name") or username))
    if not any(u.role == "admin" for u in users):
        raise UsersFileError(f"the users file {path} has no admin: nobody could manage access")
    return users


def role_permissions(fab_viewer: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The custom roles' permissions, given FAB's Viewer permissions."""
    viewer = [*fab_viewer, *READ_AUDIT_LOG]
    return {ROLES["viewer"]: viewer, ROLES["operator"]: [*viewer, *OPERATOR_EXTRA]}


def provision(users: list[User], out=print) -> None:
    """Make the roles exactly as defined here and the users exactly as the file says."""
    # Lazy: the FAB security manager needs Airflow configured and costs seconds to import;
    # loading and checking the users file (and `nns`) must not pay for it.
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        sm.sync_roles()  # FAB's built-in roles (Admin among them) and the global DAG permissions
        fab_known = {pair for config in sm.ROLE_CONFIGS for pair in config["perms"]}
        if unknown := sorted(set(READ_AUDIT_LOG + OPERATOR_EXTRA) - fab_known):
            raise UsersFileError(f"this FAB release does not know the permissions {unknown}")
        for role_name, wanted in role_permissions(list(sm.VIEWER_PERMISSIONS)).items():
            role = sm.add_role(role_name)
            wanted_set = set(wanted)
            for action, resource in sorted(wanted_set):
                permission = sm.get_permission(action, resource) or sm.create_permission(action, resource)
                if permission not in role.permissions:
                    sm.add_permission_to_role(role, permission)
            for permission in list(role.permissions):
                if (permission.action.name, permission.resource.name) not in wanted_set:
                    sm.remove_permission_from_role(role, permission)
        listed = set()
        for user in users:
            role = sm.find_role(ROLES[user.role])
            existing = sm.find_user(username=user.username)
            first, _, last = user.name.partition(" ")
            if existing is None:
                if sm.add_user(user.username, first, last or "-", user.email, role, user.password) is None:
                    raise UsersFileError(f"could not create user {user.username}")
                out(f"created {user.username} ({user.role})")
            else:
                changed = []
                if [r.name for r in existing.roles] != [role.name]:
                    existing.roles = [role]
                    changed.append(f"role {user.role}")
                if not existing.active:
                    existing.active = True
                    changed.append("active again")
                if changed:
                    sm.update_user(existing)
                if not sm.check_password(user.username, user.password):
                    sm.reset_password(existing.id, user.password)
                    changed.append("new password")
                out(f"{user.username} ({user.role}): " + (", ".join(changed) if changed else "unchanged"))
            listed.add(user.username.lower())
        for other in sm.get_all_users():
            if other.username.lower() not in listed and other.active:
                other.active = False
                sm.update_user(other)
                out(f"deactivated {other.username}: no longer in the users file")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operations.orchestration.access",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("users_file", type=Path, help="the users file (JSON), e.g. /run/secrets/airflow_users")
    parser.add_argument("--check", action="store_true", help="only check the file; touch no database")
    args = parser.parse_args(argv)
    try:
        users = load_users(args.users_file)
        if args.check:
            print(f"{args.users_file}: {len(users)} users, " + ", ".join(
                f"{sum(u.role == r for u in users)} {r}" for r in ROLES))
            return 0
        provision(users)
    except UsersFileError as exc:
        print(f"access: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
