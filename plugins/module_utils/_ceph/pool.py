# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pools: read through ``osd pool ls detail`` + ``osd crush dump``, reconcile every mutable field.

A no-op run costs two monitor round trips (three for an erasure pool: its profile).
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph import crush as crushmap
from ansible_collections.scloud.stack.plugins.module_utils._ceph import ec_profile
from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff, merged
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._common.units import parse_size

POOL_TYPES = {1: "replicated", 3: "erasure"}
AUTOSCALE_MODES = ("on", "off", "warn")
# Fields reconciled with ``osd pool set <pool> <var> <val>``, in the order they are applied:
# size before min_size (a larger min_size needs the larger size first), pg_num before pgp_num.
SET_FIELDS = ("size", "min_size", "pg_num", "pgp_num", "pg_autoscale_mode", "target_size_ratio", "crush_rule")
QUOTA_FIELDS = {"quota_max_bytes": "max_bytes", "quota_max_objects": "max_objects"}


def normalise_pool(raw, crush):
    """A pool of ``osd pool ls detail`` in the module's words (rule by name, targets not transients)."""
    rule = crushmap.rule_by_id(crush, raw["crush_rule"])
    return {
        "name": raw["pool_name"],
        "pool_id": raw["pool_id"],
        "pool_type": POOL_TYPES.get(raw["type"], str(raw["type"])),
        "size": raw["size"],
        "min_size": raw["min_size"],
        # pg_num moves gradually towards its target: the target is what was asked for.
        "pg_num": raw.get("pg_num_target", raw["pg_num"]),
        "pgp_num": raw.get("pg_placement_num_target", raw["pg_placement_num"]),
        "pg_autoscale_mode": raw.get("pg_autoscale_mode"),
        "target_size_ratio": round(float((raw.get("options") or {}).get("target_size_ratio", 0.0)), 6),
        "crush_rule": rule["rule_name"] if rule else str(raw["crush_rule"]),
        "erasure_profile": raw.get("erasure_code_profile") or None,
        "application": sorted(raw.get("application_metadata") or {}),
        "quota_max_bytes": raw.get("quota_max_bytes", 0),
        "quota_max_objects": raw.get("quota_max_objects", 0),
    }


def desired_pool(params):
    """The managed fields; ``None`` means "leave as it is"."""
    apps = params.get("application")
    ratio = params.get("target_size_ratio")
    quota_bytes = params.get("quota_max_bytes")
    return {
        "pool_type": params.get("pool_type") or "replicated",
        "size": params.get("size"),
        "min_size": params.get("min_size"),
        "pg_num": params.get("pg_num"),
        "pgp_num": params.get("pgp_num"),
        "pg_autoscale_mode": params.get("pg_autoscale_mode"),
        "target_size_ratio": round(float(ratio), 6) if ratio is not None else None,
        "crush_rule": params.get("crush_rule"),
        "erasure_profile": params.get("erasure_profile"),
        "application": sorted(set(apps)) if apps is not None else None,
        "quota_max_bytes": parse_size(quota_bytes, "quota_max_bytes") if quota_bytes is not None else None,
        "quota_max_objects": params.get("quota_max_objects"),
    }


def _check_int(params, option, minimum):
    value = params.get(option)
    if value is not None and value < minimum:
        raise ValidationError(option, f"must be >= {minimum} (got {value})")


def validate_params(params):
    """Checks that need no cluster: run before connecting, so bad input touches nothing."""
    if not params["name"]:
        raise ValidationError("name", "must not be empty")
    if params["state"] == "absent":
        return
    pool_type = params.get("pool_type") or "replicated"
    _check_int(params, "size", 1)
    _check_int(params, "min_size", 1)
    _check_int(params, "pg_num", 1)
    _check_int(params, "pgp_num", 1)
    _check_int(params, "quota_max_objects", 0)
    if params.get("size") is not None and params["size"] > 10:
        raise ValidationError("size", f"must be <= 10 (got {params['size']})")
    size, min_size = params.get("size"), params.get("min_size")
    if size is not None and min_size is not None and min_size > size:
        raise ValidationError("min_size", f"min_size ({min_size}) must be <= size ({size})")
    pg_num, pgp_num = params.get("pg_num"), params.get("pgp_num")
    if pg_num is not None and pgp_num is not None and pgp_num > pg_num:
        raise ValidationError("pgp_num", f"pgp_num ({pgp_num}) must be <= pg_num ({pg_num})")
    ratio = params.get("target_size_ratio")
    if ratio is not None and ratio < 0:
        raise ValidationError("target_size_ratio", f"must be >= 0 (got {ratio})")
    if params.get("quota_max_bytes") is not None:
        parse_size(params["quota_max_bytes"], "quota_max_bytes")
    if pool_type == "erasure":
        if size is not None:
            raise ValidationError(
                "size",
                "an erasure pool's size is k+m of its erasure_profile: "
                "do not set size with pool_type erasure",
            )
    elif params.get("erasure_profile"):
        raise ValidationError("erasure_profile", "only a pool with pool_type erasure has an erasure profile")


def validate_against_cluster(desired, current, crush, profile):
    """Checks that need the cluster's state: rules and profiles exist, fit the pool and the topology."""
    rule_name = desired["crush_rule"]
    if rule_name is not None:
        rule = crushmap.rule_by_name(crush, rule_name)
        if rule is None:
            known = ", ".join(sorted(r["rule_name"] for r in crush.get("rules", [])))
            raise ValidationError("crush_rule", f"CRUSH rule {rule_name!r} does not exist (known: {known})")
        rule_type = crushmap.RULE_TYPES.get(rule["type"])
        if rule_type != desired["pool_type"]:
            raise ValidationError(
                "crush_rule",
                f"CRUSH rule {rule_name!r} is of type {rule_type} but the pool is {desired['pool_type']}",
            )
    if current is not None:
        if current["pool_type"] != desired["pool_type"]:
            raise ValidationError(
                "pool_type",
                f"pool {current['name']!r} is {current['pool_type']}: the type "
                "of a pool cannot change (create another pool and migrate)",
            )
        if desired["erasure_profile"] and current["erasure_profile"] != desired["erasure_profile"]:
            raise ValidationError(
                "erasure_profile",
                f"pool {current['name']!r} uses erasure profile "
                f"{current['erasure_profile']!r}: the profile of a pool cannot change",
            )
        size = desired["size"] if desired["size"] is not None else current["size"]
        if desired["min_size"] is not None and desired["min_size"] > size:
            raise ValidationError("min_size", f"min_size ({desired['min_size']}) must be <= size ({size})")
    if desired["pool_type"] == "erasure":
        name = desired["erasure_profile"] or (current or {}).get("erasure_profile") or "default"
        if profile is None:
            raise ValidationError("erasure_profile", f"erasure-code profile {name!r} does not exist")
        if current is None:
            ec_profile.validate_against_crush(profile, crush, option="erasure_profile")
        if (
            desired["min_size"] is not None
            and not profile["k"] <= desired["min_size"] <= profile["k"] + profile["m"]
        ):
            raise ValidationError(
                "min_size",
                f"min_size ({desired['min_size']}) of an erasure pool must be "
                f"between k ({profile['k']}) and k+m ({profile['k'] + profile['m']})",
            )


def plan_changes(name, current, desired):
    """The monitor commands that turn ``current`` into ``desired`` (pure: unit-tested)."""
    commands = []
    for field in SET_FIELDS:
        want = desired.get(field)
        if want is not None and current.get(field) != want:
            commands.append({"prefix": "osd pool set", "pool": name, "var": field, "val": str(want)})
    for field, ceph_field in QUOTA_FIELDS.items():
        want = desired.get(field)
        if want is not None and current.get(field) != want:
            commands.append(
                {"prefix": "osd pool set-quota", "pool": name, "field": ceph_field, "val": str(want)}
            )
    apps = desired.get("application")
    if apps is not None:
        have = set(current.get("application") or [])
        for app in sorted(set(apps) - have):
            commands.append(
                {
                    "prefix": "osd pool application enable",
                    "pool": name,
                    "app": app,
                    "yes_i_really_mean_it": True,
                }
            )
        for app in sorted(have - set(apps)):
            commands.append(
                {
                    "prefix": "osd pool application disable",
                    "pool": name,
                    "app": app,
                    "yes_i_really_mean_it": True,
                }
            )
    return commands


def creation_commands(name, desired):
    """``osd pool create`` with every field it takes, then what it cannot set (pure: unit-tested).

    The list depends on the options only, so check mode announces exactly what a real run sends.
    """
    cmd = {"prefix": "osd pool create", "pool": name, "pool_type": desired["pool_type"]}
    if desired["pg_num"] is not None:
        cmd["pg_num"] = desired["pg_num"]
        cmd["pgp_num"] = desired["pgp_num"] if desired["pgp_num"] is not None else desired["pg_num"]
    if desired["pool_type"] == "erasure":
        cmd["erasure_code_profile"] = desired["erasure_profile"] or "default"
    if desired["crush_rule"] is not None:
        cmd["rule"] = desired["crush_rule"]
    if desired["size"] is not None:
        cmd["size"] = desired["size"]
    if desired["pg_autoscale_mode"] is not None:
        cmd["autoscale_mode"] = desired["pg_autoscale_mode"]
    if desired["target_size_ratio"]:
        cmd["target_size_ratio"] = desired["target_size_ratio"]
    commands = [cmd]
    if desired["min_size"] is not None:
        commands.append(
            {"prefix": "osd pool set", "pool": name, "var": "min_size", "val": str(desired["min_size"])}
        )
    fresh = {"quota_max_bytes": 0, "quota_max_objects": 0, "application": []}
    commands += [c for c in plan_changes(name, fresh, desired) if c["prefix"] != "osd pool set"]
    return commands


def read_pool(session, name, crush=None):
    crush = crush if crush is not None else session.mon_command("osd crush dump")
    pools = session.mon_command("osd pool ls", detail="detail") or []
    raw = next((p for p in pools if p["pool_name"] == name), None)
    return (normalise_pool(raw, crush) if raw else None), crush


def _run(session, commands):
    for cmd in commands:
        args = {k: v for k, v in cmd.items() if k != "prefix"}
        session.mon_command(cmd["prefix"], **args)


def converge(session, params, check_mode):
    name = params["name"]
    current, crush = read_pool(session, name)
    if params["state"] == "absent":
        if current is None:
            return {"changed": False, "pool": {}, "commands": [], "diff": make_diff(None, None)}
        if not params.get("allow_delete"):
            raise ValidationError(
                "allow_delete", f"deleting pool {name!r} needs allow_delete: true (its data is lost)"
            )
        commands = [
            {"prefix": "osd pool rm", "pool": name, "pool2": name, "yes_i_really_really_mean_it": True}
        ]
        if not check_mode:
            _run(session, commands)
        return {"changed": True, "pool": {}, "commands": commands, "diff": make_diff(current, None)}

    desired = desired_pool(params)
    profile = None
    if desired["pool_type"] == "erasure":
        profile_name = desired["erasure_profile"] or (current or {}).get("erasure_profile") or "default"
        profile = ec_profile.read_profile(session, profile_name)
    validate_against_cluster(desired, current, crush, profile)

    commands = creation_commands(name, desired) if current is None else plan_changes(name, current, desired)
    if not commands:
        return {"changed": False, "pool": current, "commands": [], "diff": make_diff(current, current)}
    if check_mode:
        after = merged(current or {"name": name}, desired)
        return {"changed": True, "pool": after, "commands": commands, "diff": make_diff(current, after)}
    _run(session, commands)
    if current is None:
        # Anything the creation could not set exactly (none expected) is reconciled now.
        created, crush = read_pool(session, name, crush=crush)
        more = plan_changes(name, created, desired)
        _run(session, more)
        commands += more
    after, _crush = read_pool(session, name, crush=crush)
    return {"changed": True, "pool": after, "commands": commands, "diff": make_diff(current, after)}
