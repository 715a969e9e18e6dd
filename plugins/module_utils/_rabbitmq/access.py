# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's access to the broker: one vhost, one user with a password, tags and permissions on
it, and the users that must not exist (``guest``). Read first, change only what differs; check mode
reports the same actions without sending them. The password is compared with
``rabbitmqctl authenticate_user`` and sent on stdin; it never appears in the result or the diff.
"""

from __future__ import annotations

import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError, ValidationError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_PERMISSIONS = ("configure", "write", "read")


def validate(params):
    for option in ("vhost", "user"):
        if not _NAME.match(params[option] or ""):
            raise ValidationError(
                option,
                f"{params[option]!r} must be 1 to 128 letters, digits, '_', '.', '@' or '-', "
                "starting with a letter or a digit",
            )
    if len(params["password"] or "") < 12:
        raise ValidationError("password", "must have at least 12 characters")
    perms = params["permissions"] or {}
    unknown = sorted(set(perms) - set(_PERMISSIONS))
    if unknown:
        raise ValidationError(
            "permissions", f"unknown key(s) {', '.join(unknown)}; allowed: configure, write, read"
        )
    for key in _PERMISSIONS:
        try:
            re.compile(perms.get(key, ".*"))
        except re.error as exc:
            raise ValidationError(
                f"permissions.{key}", f"{perms.get(key)!r} is not a regular expression: {exc}"
            ) from exc
    for name in params["absent_users"]:
        if name == params["user"]:
            raise ValidationError("absent_users", f"{name!r} is the user this task keeps (user)")
    for tag in params["tags"]:
        if not _NAME.match(tag):
            raise ValidationError("tags", f"{tag!r} must be letters, digits, '_', '.', '@' or '-'")


def _read(ctl, params):
    users = {u["user"]: sorted(u.get("tags") or []) for u in ctl.json("list_users")}
    vhosts = sorted(v["name"] for v in ctl.json("list_vhosts", "name"))
    permissions = None
    password_ok = False
    if params["user"] in users:
        for p in ctl.json("list_user_permissions", params["user"]):
            if p.get("vhost") == params["vhost"]:
                permissions = {k: p.get(k, "") for k in _PERMISSIONS}
        # rc 0: the password is the one wanted (read from stdin: not in the process list).
        rc, _out = ctl.run("authenticate_user", params["user"], stdin=params["password"] + "\n", check=False)
        password_ok = rc == 0
    return users, vhosts, permissions, password_ok


def _plan(params, wanted, users, vhosts, permissions, password_ok):
    actions = []
    if params["vhost"] not in vhosts:
        actions.append(("add_vhost", params["vhost"]))
    if params["user"] not in users:
        actions.append(("add_user", params["user"]))
    elif not password_ok:
        actions.append(("change_password", params["user"]))
    if users.get(params["user"], []) != sorted(params["tags"]):
        actions.append(("set_user_tags", params["user"]))
    if permissions != wanted:
        actions.append(("set_permissions", params["user"]))
    for name in params["absent_users"]:
        if name in users:
            actions.append(("delete_user", name))
    return actions


def _apply(ctl, params, wanted, actions):
    for action, name in actions:
        if action == "add_vhost":
            ctl.run("add_vhost", name)
        elif action in ("add_user", "change_password"):
            ctl.run(action, name, stdin=params["password"] + "\n")
        elif action == "set_user_tags":
            ctl.run("set_user_tags", name, *params["tags"])
        elif action == "set_permissions":
            ctl.run("set_permissions", "-p", params["vhost"], name, *(wanted[k] for k in _PERMISSIONS))
        elif action == "delete_user":
            ctl.run("delete_user", name)


def _view(params, users, vhosts, permissions):
    """What --diff shows: vhosts, users with their tags, the user's permissions (no password)."""
    return {
        "vhosts": vhosts,
        "users": dict(sorted(users.items())),
        "permissions": {f"{params['user']}@{params['vhost']}": permissions},
    }


def converge(ctl, params, check_mode):
    wanted = {k: (params["permissions"] or {}).get(k, ".*") for k in _PERMISSIONS}
    try:
        users, vhosts, permissions, password_ok = _read(ctl, params)
    except EngineError:
        if not check_mode:
            raise
        # Check mode before the broker runs (a first deployment's --check): everything is created.
        users, vhosts, permissions, password_ok = {}, [], None, False
    actions = _plan(params, wanted, users, vhosts, permissions, password_ok)
    if actions and not check_mode:
        _apply(ctl, params, wanted, actions)
    after_users = {name: tags for name, tags in users.items() if name not in params["absent_users"]}
    after_users[params["user"]] = sorted(params["tags"])
    return {
        "changed": bool(actions),
        "actions": [f"{action} {name}" for action, name in actions],
        "access": {
            "vhost": params["vhost"],
            "user": params["user"],
            "tags": sorted(params["tags"]),
            "permissions": wanted,
        },
        "diff": {
            "before": _view(params, users, vhosts, permissions),
            "after": _view(params, after_users, sorted(set(vhosts) | {params["vhost"]}), wanted),
        },
    }
