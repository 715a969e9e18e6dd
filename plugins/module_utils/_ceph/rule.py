# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CRUSH rules: created from (root, failure domain, device class) or from an EC profile.

Ceph cannot edit a rule in place. A rule that exists with other parameters is reported field by
field; it is replaced (removed and created again) only with ``replace: true`` and when no pool
uses it.
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph import crush as crushmap
from ansible_collections.scloud.stack.plugins.module_utils._ceph import ec_profile
from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

COMPARED = ("rule_type", "root", "failure_domain", "device_class")


def validate_params(params):
    if not params["name"]:
        raise ValidationError("name", "must not be empty")
    if params["state"] == "absent":
        return
    if params["rule_type"] == "erasure":
        if not params.get("profile"):
            raise ValidationError("profile", "is required when rule_type is erasure")
    elif params.get("profile"):
        raise ValidationError("profile", "only an erasure rule is made from an erasure-code profile")


def desired_rule(params, profile=None):
    if params["rule_type"] == "erasure" and profile is not None:
        return {
            "name": params["name"],
            "rule_type": "erasure",
            "root": profile["crush_root"],
            "failure_domain": profile["crush_failure_domain"],
            "device_class": profile["crush_device_class"],
        }
    return {
        "name": params["name"],
        "rule_type": params["rule_type"],
        "root": params.get("root") or "default",
        "failure_domain": params.get("failure_domain") or "host",
        "device_class": params.get("device_class") or None,
    }


def differences(current, desired):
    """``["root: default -> ssd-root", ...]``: what differs, in words."""
    return [
        f"{f}: {current.get(f)!r} -> {desired.get(f)!r}" for f in COMPARED if current.get(f) != desired.get(f)
    ]


def validate_against_crush(desired, crush):
    if desired["root"] not in crushmap.bucket_names(crush):
        raise ValidationError("root", f"CRUSH bucket {desired['root']!r} does not exist")
    if desired["failure_domain"] not in crushmap.type_names(crush):
        raise ValidationError(
            "failure_domain",
            f"{desired['failure_domain']!r} is not a CRUSH type "
            f"(one of {', '.join(crushmap.type_names(crush))})",
        )
    device_class = desired["device_class"]
    if device_class and device_class not in crushmap.device_classes(crush):
        raise ValidationError(
            "device_class",
            f"device class {device_class!r} does not exist "
            f"(known: {', '.join(crushmap.device_classes(crush))})",
        )


def create_command(desired, params):
    if desired["rule_type"] == "erasure":
        return {
            "prefix": "osd crush rule create-erasure",
            "name": desired["name"],
            "profile": params["profile"],
        }
    cmd = {
        "prefix": "osd crush rule create-replicated",
        "name": desired["name"],
        "root": desired["root"],
        "type": desired["failure_domain"],
    }
    if desired["device_class"]:
        cmd["class"] = desired["device_class"]
    return cmd


def _public(rule):
    return {k: rule[k] for k in ("name", "rule_id", *COMPARED) if k in rule} if rule else {}


def converge(session, params, check_mode):
    name = params["name"]
    crush = session.mon_command("osd crush dump")
    raw = crushmap.rule_by_name(crush, name)
    current = crushmap.describe_rule(raw) if raw else None
    users = []
    if current is not None:
        pools = session.mon_command("osd pool ls", detail="detail") or []
        users = crushmap.pools_using_rule(pools, current["rule_id"])
    if params["state"] == "absent":
        if current is None:
            return {"changed": False, "rule": {}, "commands": [], "diff": make_diff(None, None)}
        if users:
            raise ValidationError(
                "state",
                f"CRUSH rule {name!r} is used by pool(s) {', '.join(users)}: move them to another rule first",
            )
        commands = [{"prefix": "osd crush rule rm", "name": name}]
        _run(session, commands, check_mode)
        return {"changed": True, "rule": {}, "commands": commands, "diff": make_diff(_public(current), None)}

    profile = None
    if params["rule_type"] == "erasure":
        profile = ec_profile.read_profile(session, params["profile"])
        if profile is None:
            raise ValidationError("profile", f"erasure-code profile {params['profile']!r} does not exist")
    desired = desired_rule(params, profile)
    validate_against_crush(desired, crush)
    if current is not None:
        diffs = differences(current, desired)
        if not diffs:
            return {
                "changed": False,
                "rule": _public(current),
                "commands": [],
                "diff": make_diff(_public(current), _public(current)),
            }
        if not params.get("replace"):
            raise ValidationError(
                "replace",
                f"CRUSH rule {name!r} exists with other parameters "
                f"({'; '.join(diffs)}); set replace: true to replace it",
            )
        if users:
            raise ValidationError(
                "replace",
                f"CRUSH rule {name!r} differs ({'; '.join(diffs)}) but is used "
                f"by pool(s) {', '.join(users)}: it cannot be replaced",
            )
    commands = []
    if current is not None:
        commands.append({"prefix": "osd crush rule rm", "name": name})
    commands.append(create_command(desired, params))
    _run(session, commands, check_mode)
    if check_mode:
        after = dict(desired)
    else:
        crush = session.mon_command("osd crush dump")
        after = crushmap.describe_rule(crushmap.rule_by_name(crush, name))
    return {
        "changed": True,
        "rule": _public(after),
        "commands": commands,
        "diff": make_diff(_public(current), _public(after)),
    }


def _run(session, commands, check_mode):
    if check_mode:
        return
    for cmd in commands:
        session.mon_command(cmd["prefix"], **{k: v for k, v in cmd.items() if k != "prefix"})
