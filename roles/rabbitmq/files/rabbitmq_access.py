# Copyright: SCloudStack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge the broker's access for the API: one vhost, one user with a password and permissions on
it, and the users that must not exist (guest).

Read on stdin (JSON, so the password never shows in a process list):
  {"vhost": "scloud", "user": "scloud", "password": "...", "tags": [],
   "permissions": {"configure": ".*", "write": ".*", "read": ".*"},
   "absent_users": ["guest"], "check": false}
Prints {"changed": bool, "actions": [...], "before": {...}, "after": {...}} (no password in it).
Reads the current state first (rabbitmqctl, JSON output), changes only what differs; with "check"
it only reports what it would do. Passwords go to rabbitmqctl on its stdin, never in argv.
"""

from __future__ import annotations

import json
import subprocess
import sys

RABBITMQCTL = "/usr/sbin/rabbitmqctl"


class AccessError(Exception):
    pass


def ctl(*args, stdin=None, check=True):
    proc = subprocess.run(
        [RABBITMQCTL, "--quiet", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        output = proc.stderr.strip() or proc.stdout.strip()
        raise AccessError(f"rabbitmqctl {args[0]} failed (rc {proc.returncode}): {output}")
    return proc


def ctl_json(*args):
    out = ctl(*args, "--formatter", "json").stdout.strip()
    return json.loads(out) if out else []


def read_state(spec):
    users = {u["user"]: sorted(u.get("tags") or []) for u in ctl_json("list_users")}
    vhosts = sorted(v["name"] for v in ctl_json("list_vhosts", "name"))
    permissions = None
    password_ok = False
    if spec["user"] in users:
        for p in ctl_json("list_user_permissions", spec["user"]):
            if p.get("vhost") == spec["vhost"]:
                permissions = {k: p.get(k, "") for k in ("configure", "write", "read")}
        # rc 0: the password is the one wanted. Read from stdin: not in the process list.
        password_ok = (
            ctl("authenticate_user", spec["user"], stdin=spec["password"] + "\n", check=False).returncode == 0
        )
    return users, vhosts, permissions, password_ok


def plan(spec, users, vhosts, permissions, password_ok):
    actions = []
    if spec["vhost"] not in vhosts:
        actions.append(("add_vhost", spec["vhost"]))
    if spec["user"] not in users:
        actions.append(("add_user", spec["user"]))
    elif not password_ok:
        actions.append(("change_password", spec["user"]))
    if users.get(spec["user"], []) != sorted(spec["tags"]):
        actions.append(("set_user_tags", spec["user"]))
    if permissions != spec["permissions"]:
        actions.append(("set_permissions", spec["user"]))
    for name in spec["absent_users"]:
        if name in users and name != spec["user"]:
            actions.append(("delete_user", name))
    return actions


def apply(spec, actions):
    perms = spec["permissions"]
    for action, name in actions:
        if action == "add_vhost":
            ctl("add_vhost", name)
        elif action in ("add_user", "change_password"):
            ctl(action, name, stdin=spec["password"] + "\n")
        elif action == "set_user_tags":
            ctl("set_user_tags", name, *spec["tags"])
        elif action == "set_permissions":
            ctl(
                "set_permissions",
                "-p",
                spec["vhost"],
                name,
                perms["configure"],
                perms["write"],
                perms["read"],
            )
        elif action == "delete_user":
            ctl("delete_user", name)


def view(spec, users, vhosts, permissions):
    """What --diff shows: vhosts, users with their tags, the API user's permissions (no password)."""
    return {
        "vhosts": vhosts,
        "users": dict(sorted(users.items())),
        "permissions": {f"{spec['user']}@{spec['vhost']}": permissions},
    }


def main():
    spec = json.load(sys.stdin)
    try:
        users, vhosts, permissions, password_ok = read_state(spec)
    except AccessError:
        if not spec.get("check"):
            raise
        # Check mode on a broker not started yet: everything would be created.
        users, vhosts, permissions, password_ok = {}, [], None, False
    actions = plan(spec, users, vhosts, permissions, password_ok)
    if actions and not spec.get("check"):
        apply(spec, actions)
    after_users = {
        name: tags for name, tags in users.items() if name not in spec["absent_users"] or name == spec["user"]
    }
    after_users[spec["user"]] = sorted(spec["tags"])
    after_vhosts = sorted(set(vhosts) | {spec["vhost"]})
    result = {
        "changed": bool(actions),
        "actions": [f"{action} {name}" for action, name in actions],
        "before": view(spec, users, vhosts, permissions),
        "after": view(spec, after_users, after_vhosts, spec["permissions"]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except AccessError as exc:
        print(json.dumps({"changed": False, "failed": True, "msg": str(exc)}))
        sys.exit(1)
