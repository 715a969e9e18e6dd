# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CRUSH map reading: rules in the operator's words, failure domains that exist under a root.

Pure functions over the JSON of ``osd crush dump``, so one monitor round trip gives everything a
module needs to validate a rule, a pool or an erasure-code profile.
"""

from __future__ import annotations

import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

RULE_TYPES = {1: "replicated", 3: "erasure"}


def rule_by_name(crush, name):
    return next((r for r in crush.get("rules", []) if r["rule_name"] == name), None)


def rule_by_id(crush, rule_id):
    return next((r for r in crush.get("rules", []) if r["rule_id"] == rule_id), None)


def bucket_names(crush, include_shadow=False):
    return {b["name"] for b in crush.get("buckets", []) if include_shadow or "~" not in b["name"]}


def type_names(crush):
    return [t["name"] for t in crush.get("types", [])]


def device_classes(crush):
    return sorted({d["class"] for d in crush.get("devices", []) if d.get("class")})


def describe_rule(rule):
    """``{"rule_type", "root", "failure_domain", "device_class"}`` of a rule from its steps.

    ``take default~ssd`` is how Ceph spells "root default, device class ssd" (the shadow tree).
    """
    root, device_class, failure_domain = None, None, None
    for step in rule.get("steps", []):
        if step.get("op") == "take" and root is None:
            item = step.get("item_name", "")
            root, _sep, device_class = item.partition("~")
        elif step.get("op", "").startswith(("chooseleaf", "choose_")) and failure_domain is None:
            failure_domain = step.get("type")
    return {
        "name": rule["rule_name"],
        "rule_id": rule["rule_id"],
        "rule_type": RULE_TYPES.get(rule.get("type"), str(rule.get("type"))),
        "root": root,
        "failure_domain": failure_domain,
        "device_class": device_class or None,
    }


def failure_domains(crush, root, domain_type, device_class=None):
    """Names of the buckets of type ``domain_type`` under ``root`` holding at least one OSD
    (of ``device_class`` when given): the places CRUSH can put distinct copies or chunks."""
    by_id = {b["id"]: b for b in crush.get("buckets", [])}
    by_name = {b["name"]: b for b in crush.get("buckets", []) if "~" not in b["name"]}
    classes = {d["id"]: d.get("class") for d in crush.get("devices", [])}
    start = by_name.get(root)
    if start is None:
        return []

    def has_osd(bucket):
        for item in bucket.get("items", []):
            if item["id"] >= 0:
                if device_class is None or classes.get(item["id"]) == device_class:
                    return True
            elif item["id"] in by_id and has_osd(by_id[item["id"]]):
                return True
        return False

    found = []

    def walk(bucket):
        if bucket.get("type_name") == domain_type:
            if has_osd(bucket):
                found.append(bucket["name"])
            return
        for item in bucket.get("items", []):
            if item["id"] < 0 and item["id"] in by_id:
                walk(by_id[item["id"]])

    if domain_type == "osd":
        stack = [start]
        while stack:
            bucket = stack.pop()
            for item in bucket.get("items", []):
                if item["id"] >= 0:
                    if device_class is None or classes.get(item["id"]) == device_class:
                        found.append(f"osd.{item['id']}")
                elif item["id"] in by_id:
                    stack.append(by_id[item["id"]])
        return sorted(set(found))
    walk(start)
    return sorted(found)


def pools_using_rule(pools, rule_id):
    return sorted(p["pool_name"] for p in pools if p.get("crush_rule") == rule_id)


_HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def check_host_name(option, value, what):
    """A node's short name as Ceph names its CRUSH host bucket and its monitor; else ValidationError."""
    if not _HOST_NAME_RE.match(value or ""):
        raise ValidationError(
            option,
            f"{value!r} is not a {what} (letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 63)",
        )
