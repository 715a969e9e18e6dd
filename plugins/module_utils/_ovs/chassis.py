# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ovn_chassis``: a node's OVN chassis settings, the ``external_ids`` ovn-controller reads from the
local ``Open_vSwitch`` row (chassis name, Southbound remote, tunnel endpoint, provider mappings).

The Southbound remote of a chassis is written here, from the central nodes' addresses, and nowhere
else: the ``ovn_controller`` role, ``expand.yml`` and ``remove_node.yml`` all pass the addresses.
ovn-controller watches these keys, so a change needs no restart and no wait for ovs-vswitchd.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import Resource
from ansible_collections.scloud.stack.plugins.module_utils._ovs.vswitch import root_row

# Option -> external_ids key, in the order the result lists them.
KEYS = {
    "system_id": "system-id",
    "remote": "ovn-remote",
    "encap_type": "ovn-encap-type",
    "encap_ip": "ovn-encap-ip",
    "bridge_mappings": "ovn-bridge-mappings",
    "datapath_type": "ovn-bridge-datapath-type",
}
ENCAP_TYPES = ("geneve", "vxlan", "stt")
DATAPATH_TYPES = ("system", "netdev")
# A chassis name (system-id), also ovn_sb_chassis's rule.
CHASSIS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_BRIDGE_RE = re.compile(r"^[^\s/:,]{1,15}$")
_NETWORK_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def sb_remote(central, port=6642, tls=False):
    """The ``ovn-remote`` of a chassis: every central node's Southbound database, in the given order
    (ovn-controller follows the RAFT leader among them). IPv6 addresses are bracketed."""
    proto = "ssl" if tls else "tcp"
    parts = []
    for address in central:
        try:
            host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
        except ValueError:
            host = address
        parts.append(f"{proto}:{host}:{port}")
    return ",".join(parts)


def format_mappings(mappings):
    return ",".join(f"{m['network']}:{m['bridge']}" for m in mappings)


def _check_host(option, value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOST_RE.match(value or ""):
            raise ValidationError(option, f"{value!r} is neither an IP address nor a host name") from None


class Chassis(Resource):
    database = "Open_vSwitch"
    tables = {"Open_vSwitch": ["external_ids"]}
    result_key = "chassis"

    def validate(self):
        p = self.params
        if p.get("central") is not None and p.get("remote") is not None:
            raise ValidationError(
                "central",
                "give either central (the central nodes' addresses) or "
                "remote (an ovn-remote string), not both",
            )
        if p.get("central") is not None:
            if not p["central"]:
                raise ValidationError("central", "lists no central node: a chassis needs at least one")
            for address in p["central"]:
                _check_host("central", address)
            if len(set(p["central"])) != len(p["central"]):
                raise ValidationError("central", "lists an address twice")
        if not 1 <= p["sb_port"] <= 65535:
            raise ValidationError("sb_port", f"{p['sb_port']} is not a TCP port (1 to 65535)")
        if p.get("remote") is not None:
            for part in p["remote"].split(","):
                if not re.match(r"^(tcp|ssl|unix):\S+$", part):
                    raise ValidationError("remote", f"{part!r} is not an OVSDB remote (tcp:, ssl: or unix:)")
        if p.get("system_id") is not None and not CHASSIS_NAME_RE.match(p["system_id"]):
            raise ValidationError(
                "system_id",
                f"{p['system_id']!r} is not a chassis name (1 to 64 "
                "letters, digits, '.', '_' or '-', starting with a letter or digit)",
            )
        if p.get("encap_ip") is not None:
            try:
                ipaddress.ip_address(p["encap_ip"])
            except ValueError:
                raise ValidationError("encap_ip", f"{p['encap_ip']!r} is not an IP address") from None
        seen = set()
        for index, mapping in enumerate(p.get("bridge_mappings") or []):
            if not _NETWORK_RE.match(mapping.get("network") or ""):
                raise ValidationError(
                    f"bridge_mappings[{index}].network",
                    f"{mapping.get('network')!r} is not a provider network name",
                )
            if not _BRIDGE_RE.match(mapping.get("bridge") or ""):
                raise ValidationError(
                    f"bridge_mappings[{index}].bridge",
                    f"{mapping.get('bridge')!r} is not a bridge name (1 to 15 characters)",
                )
            if mapping["network"] in seen:
                raise ValidationError(
                    f"bridge_mappings[{index}].network", f"{mapping['network']} is mapped twice"
                )
            seen.add(mapping["network"])
        if p["state"] == "present" and not self.wanted():
            raise ValidationError(
                "state",
                "present needs at least one setting (system_id, central or "
                "remote, encap_ip, encap_type, bridge_mappings, datapath_type)",
            )

    def wanted(self):
        """The external_ids this task sets (options left out are not managed)."""
        p = self.params
        keys = {}
        if p.get("system_id") is not None:
            keys["system-id"] = p["system_id"]
        if p.get("central") is not None:
            keys["ovn-remote"] = sb_remote(p["central"], p["sb_port"], p["tls"])
        elif p.get("remote") is not None:
            keys["ovn-remote"] = p["remote"]
        if p.get("encap_type") is not None:
            keys["ovn-encap-type"] = p["encap_type"]
        if p.get("encap_ip") is not None:
            keys["ovn-encap-ip"] = p["encap_ip"]
        if p.get("bridge_mappings") is not None:
            keys["ovn-bridge-mappings"] = format_mappings(p["bridge_mappings"])
        if p.get("datapath_type") is not None:
            keys["ovn-bridge-datapath-type"] = p["datapath_type"]
        return keys

    def read(self, session):
        ids = dict(root_row(session).external_ids)
        return {key: ids[key] for key in KEYS.values() if key in ids}

    def plan(self, session, current):
        if self.params["state"] == "absent":
            return {}
        after = dict(current)
        after.update(self.wanted())
        # The order of KEYS, so the result and the diff read the same on every run.
        return {key: after[key] for key in KEYS.values() if key in after}

    def apply(self, session, txn, current, after):
        root = root_row(session)
        for key in current:
            if key not in after:
                root.delkey("external_ids", key)
        for key, value in after.items():
            if current.get(key) != value:
                root.setkey("external_ids", key, value)

    def comment(self):
        return "scloud.stack: ovn_chassis"
