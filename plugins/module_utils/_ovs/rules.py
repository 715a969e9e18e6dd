# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security group rules: normalisation (pure) and their translation into OVN ACL matches."""

from __future__ import annotations

import hashlib
import ipaddress
import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

DIRECTIONS = ("ingress", "egress")
PROTOCOLS = ("any", "tcp", "udp", "icmp")
ETHERTYPES = ("IPv4", "IPv6")
# ACL priorities: security group rules above the default drop of every port in a group.
RULE_PRIORITY = 1002
DROP_PRIORITY = 1001
DROP_GROUP = "scloud_sg_drop"


def port_group_name(sg_name):
    """OVN port group names may only hold letters, digits and '_' (they appear in ACL matches)."""
    slug = re.sub(r"[^A-Za-z0-9_]", "_", sg_name)[:40]
    return f"sg_{slug}_{hashlib.sha256(sg_name.encode()).hexdigest()[:8]}"


def parse_port_range(value, option):
    """``80``, ``"80"``, ``"8000-8100"`` -> (first, last), 1..65535, first <= last."""
    if isinstance(value, bool):
        raise ValidationError(option, f"{value!r} is not a port or port range")
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if not match:
        raise ValidationError(option, f"{value!r} is not a port or a range like 8000-8100")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    for port in (first, last):
        if not 1 <= port <= 65535:
            raise ValidationError(option, f"port {port} in {text} is outside 1..65535")
    if last < first:
        raise ValidationError(option, f"port range {text} ends before it starts")
    return first, last


def normalise_rule(rule, index):
    """A rule as written by the user -> the canonical dict compared and stored."""
    where = f"rules[{index}]"
    unknown = set(rule) - {"direction", "protocol", "port_range", "remote_cidr", "remote_group", "ethertype"}
    if unknown:
        raise ValidationError(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    direction = rule.get("direction") or "ingress"
    if direction not in DIRECTIONS:
        raise ValidationError(f"{where}.direction", f"{direction!r} is not one of ingress, egress")
    ethertype = rule.get("ethertype") or "IPv4"
    if ethertype not in ETHERTYPES:
        raise ValidationError(f"{where}.ethertype", f"{ethertype!r} is not one of IPv4, IPv6")
    protocol = str(rule.get("protocol") or "any").lower()
    if protocol not in PROTOCOLS:
        raise ValidationError(f"{where}.protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    ports = None
    if rule.get("port_range") not in (None, ""):
        if protocol not in ("tcp", "udp"):
            raise ValidationError(f"{where}.port_range", f"only tcp and udp rules have ports, not {protocol}")
        ports = parse_port_range(rule["port_range"], f"{where}.port_range")
    remote_cidr = rule.get("remote_cidr")
    remote_group = rule.get("remote_group")
    if remote_cidr and remote_group:
        raise ValidationError(where, "remote_cidr and remote_group are mutually exclusive")
    if remote_cidr:
        try:
            net = ipaddress.ip_network(str(remote_cidr), strict=False)
        except ValueError:
            raise ValidationError(f"{where}.remote_cidr", f"{remote_cidr} is not a valid network") from None
        if (net.version == 4) != (ethertype == "IPv4"):
            raise ValidationError(f"{where}.remote_cidr", f"{remote_cidr} is not an {ethertype} network")
        remote_cidr = str(net)
    port_range = None
    if ports is not None:
        port_range = str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
    return {
        "direction": direction,
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range": port_range,
        "remote_cidr": remote_cidr or None,
        "remote_group": remote_group or None,
    }


def normalise_rules(rules):
    """Canonical rules, duplicates removed, in a stable order."""
    seen = {}
    for index, rule in enumerate(rules or []):
        if not isinstance(rule, dict):
            raise ValidationError(f"rules[{index}]", "must be a dict")
        canonical = normalise_rule(rule, index)
        seen[rule_key(canonical)] = canonical
    return [seen[k] for k in sorted(seen)]


def rule_key(rule):
    """A short stable text identifying a canonical rule (stored on its ACL)."""
    keys = ("direction", "ethertype", "protocol", "port_range", "remote_cidr", "remote_group")
    return "|".join(str(rule[k] or "") for k in keys)


def rule_from_key(key):
    names = ("direction", "ethertype", "protocol", "port_range", "remote_cidr", "remote_group")
    return {n: (v or None) for n, v in zip(names, key.split("|"), strict=True)}


def acl_for_rule(rule, group, remote_port_group=None):
    """(direction, match) of the OVN ACL implementing ``rule`` for port group ``group``."""
    ip = "ip4" if rule["ethertype"] == "IPv4" else "ip6"
    if rule["direction"] == "ingress":
        terms, remote_field, port_field, acl_dir = [f"outport == @{group}", ip], "src", "dst", "to-lport"
    else:
        terms, remote_field, port_field, acl_dir = [f"inport == @{group}", ip], "dst", "dst", "from-lport"
    if rule["remote_cidr"]:
        terms.append(f"{ip}.{remote_field} == {rule['remote_cidr']}")
    if rule["remote_group"]:
        terms.append(f"{ip}.{remote_field} == ${remote_port_group}_{ip}")
    protocol = rule["protocol"]
    if protocol == "icmp":
        terms.append("icmp4" if ip == "ip4" else "icmp6")
    elif protocol in ("tcp", "udp"):
        terms.append(protocol)
        if rule["port_range"]:
            first, last = parse_port_range(rule["port_range"], "port_range")
            if first == last:
                terms.append(f"{protocol}.{port_field} == {first}")
            else:
                terms.append(f"{protocol}.{port_field} >= {first} && {protocol}.{port_field} <= {last}")
    return acl_dir, " && ".join(terms)


def drop_acls():
    """The default deny of every port that has a security group, plus what a port needs anyway."""
    g = DROP_GROUP
    return [
        ("from-lport", DROP_PRIORITY, f"inport == @{g} && ip", "drop"),
        ("to-lport", DROP_PRIORITY, f"outport == @{g} && ip", "drop"),
        # DHCP requests to OVN's native DHCP server.
        (
            "from-lport",
            RULE_PRIORITY,
            f"inport == @{g} && ip4 && ip4.dst == {{255.255.255.255, 0.0.0.0/0}}"
            " && udp && udp.src == 68 && udp.dst == 67",
            "allow",
        ),
    ]
