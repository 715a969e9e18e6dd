# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ceph keys (``auth`` entities): caps reconciled as a whole, an optional keyring file written 0600."""

from __future__ import annotations

import os
import re
import tempfile

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

ENOENT = 2
ENTITY_RE = re.compile(r"^(client|mgr|mon|osd|mds)\.[A-Za-z0-9_.\-]+$")
CAP_SERVICES = ("mon", "osd", "mgr", "mds")


def normalise_caps(caps):
    """Caps with their whitespace normalised (``allow  r`` and ``allow r`` are the same cap)."""
    return {svc: " ".join(str(cap).split()) for svc, cap in sorted((caps or {}).items())}


def validate_params(params):
    name = params["name"]
    if not ENTITY_RE.match(name or ""):
        raise ValidationError(
            "name",
            f"{name!r} is not an entity name of the form TYPE.ID "
            "(TYPE one of client, mgr, mon, osd, mds), e.g. client.cinder",
        )
    for svc, cap in (params.get("caps") or {}).items():
        if svc not in CAP_SERVICES:
            raise ValidationError(
                "caps", f"{svc!r} is not a service with caps (one of {', '.join(CAP_SERVICES)})"
            )
        if not isinstance(cap, str) or not cap.strip():
            raise ValidationError("caps", f"the caps of {svc} must be a non-empty string")
    dest = params.get("dest")
    if dest and not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        raise ValidationError("dest", f"directory {os.path.dirname(os.path.abspath(dest))} does not exist")


def keyring_text(name, key, caps):
    lines = [f"[{name}]", f"\tkey = {key}"]
    lines += [f'\tcaps {svc} = "{cap}"' for svc, cap in sorted(caps.items())]
    return "\n".join(lines) + "\n"


def caps_args(caps):
    """``["mon", "allow r", "osd", "allow rwx"]`` as the ``caps`` argument of ``auth`` commands."""
    out = []
    for svc, cap in sorted(caps.items()):
        out += [svc, cap]
    return out


def read_entity(session, name):
    raw = session.mon_command("auth get", allow_errno=(ENOENT,), entity=name)
    if not raw:
        return None
    entry = raw[0]
    return {"name": entry["entity"], "key": entry["key"], "caps": normalise_caps(entry.get("caps"))}


def _file_state(dest):
    if not dest or not os.path.exists(dest):
        return None, None
    with open(dest) as fh:
        return fh.read(), os.stat(dest).st_mode & 0o777


def write_keyring(dest, text):
    """Atomic write, mode 0600 from the start (the key is never readable by others)."""
    directory = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(prefix=".keyring-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def converge(session, params, check_mode):
    name = params["name"]
    current = read_entity(session, name)
    dest = params.get("dest")
    public_before = {"name": name, "caps": current["caps"]} if current else {}
    if params["state"] == "absent":
        changed = current is not None
        commands = [{"prefix": "auth rm", "entity": name}] if changed else []
        file_removed = bool(dest and os.path.exists(dest))
        if not check_mode:
            for cmd in commands:
                session.mon_command(cmd["prefix"], entity=name)
            if file_removed:
                os.unlink(dest)
        return {
            "changed": changed or file_removed,
            "entity": {},
            "commands": commands,
            "diff": make_diff(public_before, None),
        }

    caps = normalise_caps(params.get("caps")) if params.get("caps") is not None else None
    commands = []
    if current is None:
        commands.append({"prefix": "auth get-or-create", "entity": name, "caps": caps_args(caps or {})})
    elif caps is not None and caps != current["caps"]:
        commands.append({"prefix": "auth caps", "entity": name, "caps": caps_args(caps)})
    if not check_mode:
        for cmd in commands:
            session.mon_command(cmd["prefix"], **{k: v for k, v in cmd.items() if k != "prefix"})
        after = read_entity(session, name) if commands else current
    else:
        after = {
            "name": name,
            "key": current["key"] if current else None,
            "caps": caps if caps is not None else current["caps"],
        }
    file_changed = False
    if dest:
        old_text, old_mode = _file_state(dest)
        if after["key"] is None:  # check mode, key not made yet: the file will be written
            file_changed = True
        else:
            new_text = keyring_text(name, after["key"], after["caps"])
            file_changed = old_text != new_text or old_mode != 0o600
            if file_changed and not check_mode:
                write_keyring(dest, new_text)
    public_after = {"name": name, "caps": after["caps"]}
    result = {
        "changed": bool(commands) or file_changed,
        "entity": public_after,
        "commands": commands,
        "key": after["key"],
        "diff": make_diff(public_before, public_after),
    }
    if dest:
        result["dest"] = dest
    return result
