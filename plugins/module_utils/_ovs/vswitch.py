# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open vSwitch bridges and ports, read and written in the ``Open_vSwitch`` database."""

from __future__ import annotations

import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError, ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import Resource

OVS_TABLES = {
    "Open_vSwitch": ["bridges", "next_cfg", "cur_cfg"],
    "Bridge": ["name", "ports", "datapath_type", "fail_mode", "protocols", "external_ids", "other_config"],
    "Port": ["name", "interfaces", "vlan_mode", "tag", "trunks"],
    "Interface": ["name", "type", "options", "external_ids"],
}
PROTOCOLS = ("OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15")
PORT_TYPES = ("system", "internal", "vxlan", "geneve", "patch")
VLAN_MODES = ("access", "trunk", "native-tagged", "native-untagged")
# Linux interface names (IFNAMSIZ - 1), which system and internal ports become.
_IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")
_NAME_RE = re.compile(r"^[^\s/]{1,255}$")


def merge_map(current, changes):
    """``current`` map with ``changes`` applied: a key set to None is removed. Values become strings."""
    result = dict(current or {})
    for key, value in (changes or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return result


def string_map(value):
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (value or {}).items()}


def validate_vlan(option, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4095:
        raise ValidationError(option, f"VLAN tag {value!r} is outside 0..4095")
    return value


def _opt(value):
    """An optional scalar column (0..1) as Python: its value or None."""
    return value[0] if value else None


def root_row(session):
    rows = list(session.table("Open_vSwitch"))
    if not rows:
        raise EngineError("the Open_vSwitch database has no root row: run `ovs-vsctl init` first")
    return rows[0]


class _VswitchResource(Resource):
    database = "Open_vSwitch"
    tables = OVS_TABLES

    def _bump(self, session, txn):
        """Ask ovs-vswitchd to report when it has applied this transaction (as ovs-vsctl does)."""
        if not getattr(txn, "scloud_bumped", False):  # once per transaction, batches included
            root_row(session).increment("next_cfg")
            txn.scloud_bumped = True

    def after_commit(self, session, after):
        txn = session.last_txn
        target = txn.get_increment_new_value()
        if target is None or target < 0:
            return
        try:
            session.wait(lambda: root_row(session).cur_cfg >= target, "waiting for ovs-vswitchd")
        except EngineError as exc:
            raise EngineError(
                "the change is committed to the database but ovs-vswitchd did not apply it within "
                f"{session.timeout}s: is ovs-vswitchd running?"
            ) from exc


class Bridge(_VswitchResource):
    result_key = "bridge"

    def validate(self):
        p = self.params
        if not _IFNAME_RE.match(p["name"]):
            raise ValidationError(
                "name", f"{p['name']!r} is not a valid bridge name (1 to 15 characters, no blank, '/' or ':')"
            )
        for proto in p.get("protocols") or []:
            if proto not in PROTOCOLS:
                raise ValidationError("protocols", f"{proto!r} is not one of {', '.join(PROTOCOLS)}")

    @staticmethod
    def describe(row):
        return {
            "name": row.name,
            "datapath_type": row.datapath_type,
            "fail_mode": _opt(row.fail_mode),
            "protocols": sorted(row.protocols),
            "external_ids": dict(row.external_ids),
            "other_config": dict(row.other_config),
        }

    def read(self, session):
        row = session.find_one("Bridge", name=self.params["name"])
        return self.describe(row) if row else None

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        if current is None and session.find_one("Port", name=p["name"]):
            raise ValidationError("name", f"a port named {p['name']!r} already exists on another bridge")
        after = dict(
            current
            or {
                "name": p["name"],
                "datapath_type": "",
                "fail_mode": None,
                "protocols": [],
                "external_ids": {},
                "other_config": {},
            }
        )
        if p.get("datapath_type") is not None:
            after["datapath_type"] = p["datapath_type"]
        if p.get("fail_mode") is not None:
            after["fail_mode"] = p["fail_mode"]
        if p.get("protocols") is not None:
            after["protocols"] = sorted(set(p["protocols"]))
        after["external_ids"] = merge_map(after["external_ids"], p.get("external_ids"))
        after["other_config"] = merge_map(after["other_config"], p.get("other_config"))
        return after

    def apply(self, session, txn, current, after):
        root = root_row(session)
        row = session.find_one("Bridge", name=self.params["name"])
        if after is None:
            root.delvalue("bridges", row)
            row.delete()  # its ports and interfaces go with it (unreferenced rows are collected)
            self._bump(session, txn)
            return
        if row is None:
            iface = txn.insert(session.idl.tables["Interface"])
            iface.name = after["name"]
            iface.type = "internal"
            port = txn.insert(session.idl.tables["Port"])
            port.name = after["name"]
            port.interfaces = [iface]
            row = txn.insert(session.idl.tables["Bridge"])
            row.name = after["name"]
            row.ports = [port]
            root.addvalue("bridges", row)
        for column, value in after.items():
            if column == "name" or (current is not None and current[column] == value):
                continue
            if column == "fail_mode":
                value = [value] if value else []
            setattr(row, column, value)
        self._bump(session, txn)


class Port(_VswitchResource):
    result_key = "port"

    def validate(self):
        p = self.params
        kind = p.get("type") or "system"
        name_re = _IFNAME_RE if kind in ("system", "internal") else _NAME_RE
        if not name_re.match(p["name"]):
            raise ValidationError(
                "name",
                f"{p['name']!r} is not a valid {kind} port name"
                + (" (1 to 15 characters)" if name_re is _IFNAME_RE else ""),
            )
        if p.get("tag") is not None:
            validate_vlan("tag", p["tag"])
        for trunk in p.get("trunks") or []:
            validate_vlan("trunks", trunk)
        if p["state"] == "present" and not p.get("bridge"):
            raise ValidationError("bridge", "is required when state is present")
        options = p.get("options")
        if options is not None:
            if kind == "patch" and not options.get("peer"):
                raise ValidationError("options", "a patch port needs options.peer")
            if kind in ("vxlan", "geneve") and not options.get("remote_ip"):
                raise ValidationError("options", f"a {kind} port needs options.remote_ip")

    @staticmethod
    def describe(session, port):
        bridge = next((b.name for b in session.table("Bridge") if port in b.ports), None)
        iface = next((i for i in port.interfaces if i.name == port.name), None)
        if iface is None and port.interfaces:
            iface = port.interfaces[0]
        return {
            "bridge": bridge,
            "name": port.name,
            "type": (iface.type or "system") if iface else "system",
            "options": dict(iface.options) if iface else {},
            "vlan_mode": _opt(port.vlan_mode),
            "tag": _opt(port.tag),
            "trunks": sorted(port.trunks),
            "external_ids": dict(iface.external_ids) if iface else {},
        }

    def read(self, session):
        row = session.find_one("Port", name=self.params["name"])
        return self.describe(session, row) if row else None

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        if session.find_one("Bridge", name=p["name"]):
            raise ValidationError("name", f"{p['name']!r} is a bridge (its local port cannot be managed)")
        if session.find_one("Bridge", name=p["bridge"]) is None:
            raise ValidationError("bridge", f"bridge {p['bridge']!r} does not exist")
        after = dict(
            current
            or {
                "name": p["name"],
                "type": "system",
                "options": {},
                "vlan_mode": None,
                "tag": None,
                "trunks": [],
                "external_ids": {},
            }
        )
        after["bridge"] = p["bridge"]
        if p.get("type") is not None:
            after["type"] = p["type"]
        if p.get("options") is not None:
            after["options"] = string_map(p["options"])
        elif current is None and after["type"] in ("patch", "vxlan", "geneve"):
            raise ValidationError("options", f"a new {after['type']} port needs options")
        for key in ("vlan_mode", "tag"):
            if p.get(key) is not None:
                after[key] = p[key]
        if p.get("trunks") is not None:
            after["trunks"] = sorted(set(p["trunks"]))
        after["external_ids"] = merge_map(after["external_ids"], p.get("external_ids"))
        return after

    def apply(self, session, txn, current, after):
        port = session.find_one("Port", name=self.params["name"])
        bridges = {b.name: b for b in session.table("Bridge")}
        if after is None:
            if current["bridge"] in bridges:
                bridges[current["bridge"]].delvalue("ports", port)
            port.delete()
            self._bump(session, txn)
            return
        if port is None:
            iface = txn.insert(session.idl.tables["Interface"])
            iface.name = after["name"]
            port = txn.insert(session.idl.tables["Port"])
            port.name = after["name"]
            port.interfaces = [iface]
            bridges[after["bridge"]].addvalue("ports", port)
            current = {}
        else:
            iface = next((i for i in port.interfaces if i.name == port.name), port.interfaces[0])
            if current["bridge"] != after["bridge"]:
                # Moved in the same transaction: never a moment without the port.
                if current["bridge"] in bridges:
                    bridges[current["bridge"]].delvalue("ports", port)
                bridges[after["bridge"]].addvalue("ports", port)
        if current.get("type") != after["type"]:
            iface.type = "" if after["type"] == "system" else after["type"]
        if current.get("options") != after["options"]:
            iface.options = after["options"]
        if current.get("external_ids") != after["external_ids"]:
            iface.external_ids = after["external_ids"]
        for column in ("vlan_mode", "tag"):
            if current.get(column) != after[column]:
                setattr(port, column, [] if after[column] is None else [after[column]])
        if current.get("trunks", []) != after["trunks"]:
            port.trunks = after["trunks"]
        self._bump(session, txn)
