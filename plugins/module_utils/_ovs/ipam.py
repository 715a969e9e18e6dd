# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure address logic of VPC subnets: CIDRs, gateways, exclusions, allocation, MACs.

Standard library ``ipaddress`` only: Debian's ``/usr/bin/python3`` has no netaddr by default.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

_MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
# Locally administered, unicast prefix for the MACs this collection generates.
MAC_PREFIX = "0a:58"


def parse_cidr(value, option="cidr"):
    """An IPv4 network in strict form (host bits zero, prefix 1..30)."""
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise ValidationError(option, f"{value} is not a valid IPv4 network ({exc})") from None
    if net.version != 4:
        raise ValidationError(option, f"{value} is not an IPv4 network (VPC subnets are IPv4)")
    if net.prefixlen > 30:
        raise ValidationError(option, f"{value} is too small: a subnet needs a prefix of /30 or shorter")
    return net


def parse_ip(value, option):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise ValidationError(option, f"{value!r} is not a valid IP address") from None


def ip_in_subnet(value, net, option):
    """``value`` as an address that is a usable host of ``net`` (not its network or broadcast)."""
    ip = parse_ip(value, option)
    if ip not in net:
        raise ValidationError(option, f"{ip} is outside the subnet {net}")
    if ip in (net.network_address, net.broadcast_address):
        raise ValidationError(option, f"{ip} is the network or broadcast address of {net}")
    return ip


def default_gateway(net):
    return net.network_address + 1


def parse_exclusions(values, net, option="exclude_ips"):
    """``["10.0.0.5", "10.0.0.10..10.0.0.20"]`` -> sorted list of (first, last) address pairs."""
    ranges = []
    for value in values or []:
        text = str(value).strip()
        if ".." in text:
            first_s, _sep, last_s = text.partition("..")
            first = ip_in_subnet(first_s, net, option)
            last = ip_in_subnet(last_s, net, option)
            if last < first:
                raise ValidationError(option, f"range {text} ends before it starts")
        else:
            first = last = ip_in_subnet(text, net, option)
        ranges.append((first, last))
    return sorted(ranges)


def format_exclusions(ranges):
    return [str(a) if a == b else f"{a}..{b}" for a, b in ranges]


def overlapping(net, others):
    """The first ``(name, network)`` of ``others`` that overlaps ``net``, or None."""
    for name, other in others:
        if net.overlaps(other):
            return name, other
    return None


def allocate_ip(net, used, exclusions=()):
    """The lowest free host address of ``net``: not ``used``, not in an exclusion range."""
    used = {ipaddress.ip_address(str(u)) for u in used}
    for host in net.hosts():
        if host in used or any(a <= host <= b for a, b in exclusions):
            continue
        return host
    raise ValidationError("ips", f"the subnet {net} has no free address left")


def normalise_mac(value, option="mac"):
    text = str(value).strip().lower().replace("-", ":")
    if not _MAC_RE.match(text):
        raise ValidationError(option, f"{value!r} is not a valid MAC address (like aa:bb:cc:dd:ee:ff)")
    if int(text[:2], 16) & 1:
        raise ValidationError(option, f"{value} is a multicast MAC address")
    return text


def stable_mac(*parts, taken=()):
    """A MAC derived from ``parts`` (so a re-run gives the same one), avoiding ``taken``."""
    seed = "/".join(parts)
    for attempt in range(256):
        digest = hashlib.sha256(f"{seed}#{attempt}".encode()).hexdigest()
        mac = MAC_PREFIX + ":" + ":".join(digest[i : i + 2] for i in range(0, 8, 2))
        if mac not in taken:
            return mac
    raise ValidationError("mac", "could not derive a free MAC address")


def parse_addresses(entry):
    """An OVN ``addresses`` entry ``"MAC IP1 IP2"`` -> (mac, [ips]); None for router/dynamic/unknown."""
    words = entry.split()
    if not words or not _MAC_RE.match(words[0].lower()):
        return None, []
    return words[0].lower(), [w.split("/")[0] for w in words[1:] if w not in ("dynamic",)]
