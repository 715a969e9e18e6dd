# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VPC objects in the OVN Northbound database: subnets (switches), VM ports, security groups.

What this collection writes carries ``external_ids`` keys prefixed ``scloud:`` so it can tell its
own rows from rows made by others, and so an operator reading ``ovn-nbctl`` sees the VPC model.
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs import ipam, rules
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import Resource

VPC = "scloud:vpc"
GATEWAY = "scloud:gateway_ip"
EXCLUDE = "scloud:exclude_ips"
DNS = "scloud:dns_servers"
OWNER_SWITCH = "scloud:switch"
SG = "scloud:security_group"
RULE = "scloud:rule"
DHCP_LEASE = "3600"
# Geneve adds 58 bytes to a 1500-byte underlay frame.
OVERLAY_MTU = "1442"


def _ids(row):
    return dict(row.external_ids)


def find_switch(session, name):
    return session.find_one("Logical_Switch", name=name)


def switch_dhcp_row(session, name):
    return next((d for d in session.table("DHCP_Options") if d.external_ids.get(OWNER_SWITCH) == name), None)


def switch_of_port(session, lsp):
    return next((ls for ls in session.table("Logical_Switch") if lsp in ls.ports), None)


def security_groups(session):
    """{security group name: Port_Group row}."""
    return {pg.external_ids[SG]: pg for pg in session.table("Port_Group") if SG in pg.external_ids}


def ensure_drop_group(session, txn):
    """The port group every port with a security group is in: default deny, DHCP allowed."""
    row = getattr(txn, "scloud_drop_group", None) or session.find_one("Port_Group", name=rules.DROP_GROUP)
    if row is not None:
        return row
    row = txn.insert(session.idl.tables["Port_Group"])
    row.name = rules.DROP_GROUP
    row.external_ids = {"scloud:role": "default-deny"}
    acls = []
    for direction, priority, match, action in rules.drop_acls():
        acl = txn.insert(session.idl.tables["ACL"])
        acl.direction, acl.priority, acl.match, acl.action = direction, priority, match, action
        acls.append(acl)
    row.acls = acls
    return row


class _NbResource(Resource):
    database = "OVN_Northbound"


# --- subnets --------------------------------------------------------------------------------------


class Switch(_NbResource):
    """A VPC subnet: one logical switch, its IPAM settings and its DHCP options."""

    tables = ("Logical_Switch", "Logical_Switch_Port", "DHCP_Options")
    result_key = "switch"

    def validate(self):
        p = self.params
        if p["state"] == "absent":
            return
        for option in ("vpc", "cidr"):
            if not p.get(option):
                raise ValidationError(option, "is required when state is present")
        self.net = ipam.parse_cidr(p["cidr"])
        gateway = p.get("gateway_ip") or ipam.default_gateway(self.net)
        self.gateway = ipam.ip_in_subnet(gateway, self.net, "gateway_ip")
        self.exclusions = ipam.parse_exclusions(p.get("exclude_ips"), self.net)
        self.dns = [str(ipam.parse_ip(d, "dns_servers")) for d in p.get("dns_servers") or []]

    def _dhcp_options(self):
        options = {
            "lease_time": DHCP_LEASE,
            "router": str(self.gateway),
            "server_id": str(self.gateway),
            "server_mac": ipam.stable_mac("dhcp", self.params["name"]),
            "mtu": OVERLAY_MTU,
        }
        if self.dns:
            options["dns_server"] = "{" + ",".join(self.dns) + "}"
        return options

    def read(self, session):
        row = find_switch(session, self.params["name"])
        if row is None:
            return None
        ids = _ids(row)
        dhcp = switch_dhcp_row(session, row.name)
        return {
            "name": row.name,
            "vpc": ids.get(VPC),
            "cidr": row.other_config.get("subnet"),
            "gateway_ip": ids.get(GATEWAY),
            "exclude_ips": ids.get(EXCLUDE, "").split(),
            "dns_servers": ids.get(DNS, "").split(),
            "dhcp": dhcp is not None,
            "dhcp_options": dict(dhcp.options) if dhcp is not None else {},
        }

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            row = find_switch(session, p["name"])
            if row is not None:
                busy = sorted(lsp.name for lsp in row.ports if lsp.type != "router")
                if busy:
                    raise ValidationError("state", f"switch {p['name']} still has ports: {', '.join(busy)}")
            return None
        for other in session.table("Logical_Switch"):
            if other.name == p["name"] or other.external_ids.get(VPC) != p["vpc"]:
                continue
            subnet = other.other_config.get("subnet")
            if subnet and ipam.overlapping(self.net, [(other.name, ipam.parse_cidr(subnet))]):
                raise ValidationError(
                    "cidr", f"{self.net} overlaps {subnet} of switch {other.name} in VPC {p['vpc']}"
                )
        return {
            "name": p["name"],
            "vpc": p["vpc"],
            "cidr": str(self.net),
            "gateway_ip": str(self.gateway),
            "exclude_ips": ipam.format_exclusions(self.exclusions),
            "dns_servers": self.dns,
            "dhcp": p["dhcp"],
            "dhcp_options": self._dhcp_options() if p["dhcp"] else {},
        }

    def apply(self, session, txn, current, after):
        name = self.params["name"]
        row = find_switch(session, name)
        dhcp = switch_dhcp_row(session, name)
        if after is None:
            if dhcp is not None:
                dhcp.delete()
            row.delete()
            return
        if row is None:
            row = txn.insert(session.idl.tables["Logical_Switch"])
            row.name = name
        ids = _ids(row) if current is not None else {}  # a row inserted now has no data to read
        ids.update(
            {
                VPC: after["vpc"],
                GATEWAY: after["gateway_ip"],
                EXCLUDE: " ".join(after["exclude_ips"]),
                DNS: " ".join(after["dns_servers"]),
            }
        )
        row.external_ids = ids
        other = dict(row.other_config) if current is not None else {}
        # OVN's own IPAM (dynamic addresses) must never hand out the gateway or the exclusions.
        other.update(
            {"subnet": after["cidr"], "exclude_ips": " ".join([after["gateway_ip"], *after["exclude_ips"]])}
        )
        row.other_config = other
        if after["dhcp"]:
            if dhcp is None:
                dhcp = txn.insert(session.idl.tables["DHCP_Options"])
                dhcp.external_ids = {OWNER_SWITCH: name}
            dhcp.cidr = after["cidr"]
            dhcp.options = after["dhcp_options"]
        elif dhcp is not None:
            dhcp.delete()


# --- VM ports -------------------------------------------------------------------------------------


class LogicalPort(_NbResource):
    """A VM NIC on a subnet: MAC, fixed IPs, port security, DHCP and security groups."""

    tables = ("Logical_Switch", "Logical_Switch_Port", "DHCP_Options", "Port_Group", "ACL")
    result_key = "port"

    def validate(self):
        p = self.params
        if p["state"] == "present" and not p.get("switch"):
            raise ValidationError("switch", "is required when state is present")
        self.mac = ipam.normalise_mac(p["mac"]) if p.get("mac") else None
        self.ips = [str(ipam.parse_ip(ip, "ips")) for ip in p.get("ips") or []]
        if len(set(self.ips)) != len(self.ips):
            raise ValidationError("ips", "lists an address twice")

    def read(self, session):
        lsp = session.find_one("Logical_Switch_Port", name=self.params["name"])
        if lsp is None:
            return None
        switch = switch_of_port(session, lsp)
        mac, ips = ipam.parse_addresses(lsp.addresses[0]) if lsp.addresses else (None, [])
        groups = sorted(name for name, pg in security_groups(session).items() if lsp in pg.ports)
        return {
            "switch": switch.name if switch is not None else None,
            "name": lsp.name,
            "mac": mac,
            "ips": ips,
            "port_security": bool(lsp.port_security),
            "security_groups": groups,
            "dhcp": bool(lsp.dhcpv4_options),
        }

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        switch = find_switch(session, p["switch"])
        if switch is None or not switch.other_config.get("subnet"):
            raise ValidationError("switch", f"subnet {p['switch']} does not exist (see ovn_switch)")
        net = ipam.parse_cidr(switch.other_config["subnet"], "switch")
        gateway = switch.external_ids.get(GATEWAY)
        same_switch = current is not None and current["switch"] == p["switch"]
        macs, used = {}, {}
        for lsp in switch.ports:
            if lsp.name == p["name"]:
                continue
            for entry in list(lsp.addresses) + list(lsp.dynamic_addresses):
                mac, ips = ipam.parse_addresses(entry)
                if mac:
                    macs[mac] = lsp.name
                for ip in ips:
                    used[ip] = lsp.name
        # Taken by earlier items of the same batch task (not in the database yet).
        taken = self.pending.setdefault(("switch", p["switch"]), {"macs": {}, "ips": {}})
        macs.update(taken["macs"])
        used.update(taken["ips"])
        # MAC: given, else kept, else derived from the names (same on every run).
        mac = self.mac or (current["mac"] if current and current["mac"] else None)
        mac = mac or ipam.stable_mac(p["switch"], p["name"], taken=macs)
        if mac in macs:
            raise ValidationError("mac", f"{mac} is already used by port {macs[mac]} on {p['switch']}")
        exclusions = ipam.parse_exclusions(switch.external_ids.get(EXCLUDE, "").split(), net)
        if self.ips:
            ips = self.ips
            for ip in ips:
                ipam.ip_in_subnet(ip, net, "ips")
                if ip == gateway:
                    raise ValidationError("ips", f"{ip} is the gateway of subnet {p['switch']}")
                if ip in used:
                    raise ValidationError("ips", f"{ip} is already used by port {used[ip]}")
        elif same_switch and current["ips"] and all(ipam.parse_ip(ip, "ips") in net for ip in current["ips"]):
            ips = current["ips"]  # allocated on an earlier run: stable
        else:
            ips = [str(ipam.allocate_ip(net, [*used, gateway] if gateway else used, exclusions))]
        taken["macs"][mac] = p["name"]
        taken["ips"].update({ip: p["name"] for ip in ips})
        groups = current["security_groups"] if current else []
        if p.get("security_groups") is not None:
            known = security_groups(session)
            for name in p["security_groups"]:
                if name not in known:
                    raise ValidationError("security_groups", f"security group {name} does not exist")
            groups = sorted(set(p["security_groups"]))
        return {
            "switch": p["switch"],
            "name": p["name"],
            "mac": mac,
            "ips": ips,
            "port_security": p["port_security"],
            "security_groups": groups,
            "dhcp": switch_dhcp_row(session, p["switch"]) is not None,
        }

    def apply(self, session, txn, current, after):
        name = self.params["name"]
        lsp = session.find_one("Logical_Switch_Port", name=name)
        drop = session.find_one("Port_Group", name=rules.DROP_GROUP)
        groups = security_groups(session)
        if after is None:
            switch = switch_of_port(session, lsp)
            if switch is not None:
                switch.delvalue("ports", lsp)
            for pg in [*groups.values(), drop]:
                if pg is not None and lsp in pg.ports:
                    pg.delvalue("ports", lsp)
            lsp.delete()
            return
        switch = find_switch(session, after["switch"])
        switch.verify("ports")  # the IP and MAC were chosen against these ports
        ids = dict(lsp.external_ids) if lsp is not None else {}
        if lsp is None:
            lsp = txn.insert(session.idl.tables["Logical_Switch_Port"])
            lsp.name = name
            switch.addvalue("ports", lsp)
        elif current["switch"] != after["switch"]:
            old = switch_of_port(session, lsp)
            if old is not None:
                old.delvalue("ports", lsp)
            switch.addvalue("ports", lsp)
        address = " ".join([after["mac"], *after["ips"]])
        lsp.addresses = [address]
        lsp.port_security = [address] if after["port_security"] else []
        dhcp = switch_dhcp_row(session, after["switch"])
        lsp.dhcpv4_options = [dhcp] if dhcp is not None and after["dhcp"] else []
        lsp.external_ids = ids | {OWNER_SWITCH: after["switch"]}
        for sg_name, pg in groups.items():
            member = lsp in pg.ports
            if sg_name in after["security_groups"] and not member:
                pg.addvalue("ports", lsp)
            elif sg_name not in after["security_groups"] and member:
                pg.delvalue("ports", lsp)
        if after["security_groups"]:
            drop = ensure_drop_group(session, txn)
            drop.addvalue("ports", lsp)
        elif drop is not None and lsp in drop.ports:
            drop.delvalue("ports", lsp)


# --- security groups ------------------------------------------------------------------------------


class SecurityGroup(_NbResource):
    """A port group with one allow-related ACL per rule; ports in any group are denied the rest."""

    tables = ("Port_Group", "ACL", "Logical_Switch_Port")
    result_key = "security_group"

    def validate(self):
        present = self.params["state"] == "present"
        self.rules = rules.normalise_rules(self.params.get("rules")) if present else []

    def _expected(self, rule):
        group = rules.port_group_name(self.params["name"])
        remote = rules.port_group_name(rule["remote_group"]) if rule["remote_group"] else None
        return rules.acl_for_rule(rule, group, remote)

    def read(self, session):
        pg = security_groups(session).get(self.params["name"])
        if pg is None:
            return None
        current = []
        for acl in pg.acls:
            key = acl.external_ids.get(RULE)
            if not key:
                continue
            rule = rules.rule_from_key(key)
            # An ACL edited behind our back no longer implements its rule: it counts as missing.
            if (acl.direction, acl.match) == self._expected(rule) and acl.action == "allow-related":
                current.append(rule)
        return {
            "name": self.params["name"],
            "port_group": pg.name,
            "rules": sorted(current, key=rules.rule_key),
            "ports": sorted(lsp.name for lsp in pg.ports),
        }

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        known = security_groups(session)
        for index, rule in enumerate(self.rules):
            remote = rule["remote_group"]
            if remote and remote not in known and remote != p["name"]:
                raise ValidationError(
                    f"rules[{index}].remote_group", f"security group {rule['remote_group']} does not exist"
                )
        return {
            "name": p["name"],
            "port_group": rules.port_group_name(p["name"]),
            "rules": self.rules,
            "ports": current["ports"] if current else [],
        }

    def apply(self, session, txn, current, after):
        pg = security_groups(session).get(self.params["name"])
        if after is None:
            pg.delete()  # its ACLs go with it
            return
        if pg is None:
            pg = txn.insert(session.idl.tables["Port_Group"])
            pg.name = after["port_group"]
            pg.external_ids = {SG: self.params["name"]}
        wanted = {rules.rule_key(r): r for r in after["rules"]}
        for acl in list(pg.acls) if current is not None else []:
            key = acl.external_ids.get(RULE)
            rule = rules.rule_from_key(key) if key else None
            if (
                key in wanted
                and (acl.direction, acl.match) == self._expected(rule)
                and acl.action == "allow-related"
            ):
                del wanted[key]
                continue
            pg.delvalue("acls", acl)
        for key, rule in wanted.items():
            direction, match = self._expected(rule)
            acl = txn.insert(session.idl.tables["ACL"])
            acl.direction, acl.priority, acl.match, acl.action = (
                direction,
                rules.RULE_PRIORITY,
                match,
                "allow-related",
            )
            acl.external_ids = {RULE: key, SG: self.params["name"]}
            pg.addvalue("acls", acl)
        ensure_drop_group(session, txn)
