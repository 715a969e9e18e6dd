# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Erasure-code profiles: normalised so that what Ceph fills in compares equal to what was asked."""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph import crush as crushmap
from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

ENOENT = 2

PLUGINS = ("jerasure", "isa", "shec", "clay", "lrc")
# The techniques each plugin accepts and the one Ceph picks when none is given.
TECHNIQUES = {
    "jerasure": (
        "reed_sol_van",
        (
            "reed_sol_van",
            "reed_sol_r6_op",
            "cauchy_orig",
            "cauchy_good",
            "liberation",
            "blaum_roth",
            "liber8tion",
        ),
    ),
    "isa": ("reed_sol_van", ("reed_sol_van", "cauchy")),
    "shec": ("multiple", ("single", "multiple")),
    "clay": (None, ()),
    "lrc": (None, ()),
}
DEFAULT_ROOT = "default"
DEFAULT_FAILURE_DOMAIN = "host"
FIELDS = ("k", "m", "plugin", "technique", "crush_root", "crush_failure_domain", "crush_device_class")


def normalise_profile(name, raw):
    """The profile in the module's words, Ceph's implicit defaults made explicit."""
    plugin = raw.get("plugin") or "jerasure"
    default_technique = TECHNIQUES.get(plugin, (None, ()))[0]
    return {
        "name": name,
        "k": int(raw["k"]) if raw.get("k") not in (None, "") else None,
        "m": int(raw["m"]) if raw.get("m") not in (None, "") else None,
        "plugin": plugin,
        "technique": raw.get("technique") or default_technique,
        "crush_root": raw.get("crush-root") or DEFAULT_ROOT,
        "crush_failure_domain": raw.get("crush-failure-domain") or DEFAULT_FAILURE_DOMAIN,
        "crush_device_class": raw.get("crush-device-class") or None,
    }


def desired_profile(params):
    """What the options ask for, with the same defaults Ceph applies."""
    plugin = params.get("plugin") or "jerasure"
    return {
        "name": params["name"],
        "k": params.get("k"),
        "m": params.get("m"),
        "plugin": plugin,
        "technique": params.get("technique") or TECHNIQUES.get(plugin, (None, ()))[0],
        "crush_root": params.get("crush_root") or DEFAULT_ROOT,
        "crush_failure_domain": params.get("crush_failure_domain") or DEFAULT_FAILURE_DOMAIN,
        "crush_device_class": params.get("crush_device_class") or None,
    }


def profile_arguments(profile):
    """The ``key=value`` list ``osd erasure-code-profile set`` takes."""
    pairs = [f"k={profile['k']}", f"m={profile['m']}", f"plugin={profile['plugin']}"]
    if profile.get("technique"):
        pairs.append(f"technique={profile['technique']}")
    pairs.append(f"crush-root={profile['crush_root']}")
    pairs.append(f"crush-failure-domain={profile['crush_failure_domain']}")
    if profile.get("crush_device_class"):
        pairs.append(f"crush-device-class={profile['crush_device_class']}")
    return pairs


def validate_params(params):
    """Checks that need no cluster: run before connecting."""
    if params["state"] == "absent":
        return
    for opt in ("k", "m"):
        if params.get(opt) is None:
            raise ValidationError(opt, "is required when state is present")
    if params["k"] < 2:
        raise ValidationError("k", f"must be >= 2 (got {params['k']})")
    if params["m"] < 1:
        raise ValidationError("m", f"must be >= 1 (got {params['m']})")
    plugin = params.get("plugin") or "jerasure"
    technique = params.get("technique")
    allowed = TECHNIQUES[plugin][1]
    if technique and technique not in allowed:
        if not allowed:
            raise ValidationError("technique", f"plugin {plugin} takes no technique (got {technique!r})")
        raise ValidationError(
            "technique", f"{technique!r} is not a technique of plugin {plugin} (one of {', '.join(allowed)})"
        )


def validate_against_crush(profile, crush, option="k"):
    """k+m chunks need k+m distinct failure domains under the profile's root (and device class)."""
    root = profile["crush_root"]
    if root not in crushmap.bucket_names(crush):
        raise ValidationError("crush_root", f"CRUSH bucket {root!r} does not exist")
    domain = profile["crush_failure_domain"]
    if domain not in crushmap.type_names(crush):
        raise ValidationError(
            "crush_failure_domain",
            f"{domain!r} is not a CRUSH type (one of {', '.join(crushmap.type_names(crush))})",
        )
    device_class = profile.get("crush_device_class")
    if device_class and device_class not in crushmap.device_classes(crush):
        raise ValidationError(
            "crush_device_class",
            f"device class {device_class!r} does not exist "
            f"(known: {', '.join(crushmap.device_classes(crush))})",
        )
    available = crushmap.failure_domains(crush, root, domain, device_class)
    chunks = profile["k"] + profile["m"]
    if chunks > len(available):
        where = f"root {root}" + (f" class {device_class}" if device_class else "")
        raise ValidationError(
            option,
            f"k+m={chunks} must be <= the number of {domain} failure domains "
            f"under {where} ({len(available)})",
        )


def read_profile(session, name):
    raw = session.mon_command("osd erasure-code-profile get", allow_errno=(ENOENT,), name=name)
    return normalise_profile(name, raw) if raw is not None else None


def converge(session, params, check_mode):
    name = params["name"]
    current = read_profile(session, name)
    pools = session.mon_command("osd pool ls", detail="detail") or []
    users = sorted(p["pool_name"] for p in pools if p.get("erasure_code_profile") == name)
    commands = []
    if params["state"] == "absent":
        if current is None:
            return {"changed": False, "profile": {}, "commands": [], "diff": make_diff(None, None)}
        if users:
            raise ValidationError(
                "state",
                f"erasure-code profile {name!r} is used by pool(s) {', '.join(users)}; delete them first",
            )
        commands.append({"prefix": "osd erasure-code-profile rm", "name": name})
        _apply(session, commands, check_mode)
        return {"changed": True, "profile": {}, "commands": commands, "diff": make_diff(current, None)}

    desired = desired_profile(params)
    crush = session.mon_command("osd crush dump")
    validate_against_crush(desired, crush)
    if current == desired:
        return {"changed": False, "profile": current, "commands": [], "diff": make_diff(current, current)}
    if current is not None:
        differ = [f for f in FIELDS if current[f] != desired[f]]
        if users:
            detail = ", ".join(f"{f} {current[f]!r} -> {desired[f]!r}" for f in differ)
            raise ValidationError(
                differ[0],
                f"erasure-code profile {name!r} is used by pool(s) "
                f"{', '.join(users)} and cannot change ({detail})",
            )
    commands.append(
        {
            "prefix": "osd erasure-code-profile set",
            "name": name,
            "profile": profile_arguments(desired),
            "force": current is not None,
        }
    )
    _apply(session, commands, check_mode)
    after = desired if check_mode else read_profile(session, name)
    return {"changed": True, "profile": after, "commands": commands, "diff": make_diff(current, after)}


def _apply(session, commands, check_mode):
    if check_mode:
        return
    for cmd in commands:
        args = {k: v for k, v in cmd.items() if k != "prefix"}
        if args.get("force") is False:
            args.pop("force")
        session.mon_command(cmd["prefix"], **args)
