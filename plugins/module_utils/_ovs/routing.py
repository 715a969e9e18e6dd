# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VPC routers, NAT gateway, floating IPs and load balancers in the OVN Northbound database."""

from __future__ import annotations

import ipaddress

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs import ipam
from ansible_collections.scloud.stack.plugins.module_utils._ovs.northbound import (
    GATEWAY,
    VPC,
    _NbResource,
    find_switch,
    switch_of_port,
)

ROUTER = "scloud:router"
SUBNET = "scloud:switch"
EXTERNAL = "scloud:external"
ROLE = "scloud:role"
LB = "scloud:load_balancer"


def lrp_name(router, switch):
    return f"lrp-{router}-{switch}"


def lsp_name(router, switch):
    return f"lsp-{router}-{switch}"


def gw_lrp_name(router):
    return f"lrp-{router}-gw"


def _subnet_of(session, name, option):
    row = find_switch(session, name)
    if row is None or not row.other_config.get("subnet"):
        raise ValidationError(option, f"subnet {name} does not exist (see ovn_switch)")
    return row, ipam.parse_cidr(row.other_config["subnet"], option)


def parse_host_and_port(value, option):
    """``"10.0.0.10:80"`` -> ("10.0.0.10", 80)."""
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValidationError(option, f"{value!r} is not IP:PORT with a port in 1..65535")
    ip = ipam.parse_ip(host, option)
    if ip.version != 4:
        raise ValidationError(option, f"{value!r}: only IPv4 addresses are supported")
    return str(ip), int(port)


class Router(_NbResource):
    """A VPC router: subnets attached with their gateway IPs, external gateway, SNAT, routes."""

    tables = (
        "Logical_Router",
        "Logical_Router_Port",
        "Logical_Switch",
        "Logical_Switch_Port",
        "NAT",
        "Logical_Router_Static_Route",
        "Gateway_Chassis",
    )
    result_key = "router"

    def validate(self):
        p = self.params
        if p["state"] == "absent":
            return
        if not p.get("vpc"):
            raise ValidationError("vpc", "is required when state is present")
        self.routes = []
        for index, route in enumerate(p.get("static_routes") or []):
            where = f"static_routes[{index}]"
            try:
                prefix = ipaddress.ip_network(str(route.get("prefix")), strict=False)
            except ValueError:
                raise ValidationError(
                    f"{where}.prefix", f"{route.get('prefix')} is not a valid network"
                ) from None
            nexthop = ipam.parse_ip(route.get("nexthop"), f"{where}.nexthop")
            self.routes.append({"prefix": str(prefix), "nexthop": str(nexthop)})
        self.routes.sort(key=lambda r: (r["prefix"], r["nexthop"]))
        names = [s["switch"] for s in p.get("subnets") or []]
        if len(set(names)) != len(names):
            raise ValidationError("subnets", "lists a switch twice")
        for name in p.get("snat") or []:
            if name not in names:
                raise ValidationError("snat", f"{name} is not one of the router's subnets")
        if p.get("snat") and not p.get("external_gateway"):
            raise ValidationError("snat", "needs an external_gateway")

    def read(self, session):
        router = session.find_one("Logical_Router", name=self.params["name"])
        if router is None:
            return None
        subnets, external = [], None
        default = next((r for r in router.static_routes if r.external_ids.get(ROLE) == "default"), None)
        for lrp in router.ports:
            if SUBNET in lrp.external_ids:
                subnets.append(
                    {
                        "switch": lrp.external_ids[SUBNET],
                        "gateway_ip": lrp.networks[0].split("/")[0] if lrp.networks else None,
                        "mac": lrp.mac,
                    }
                )
            elif EXTERNAL in lrp.external_ids:
                chassis = sorted(lrp.gateway_chassis, key=lambda g: -g.priority)
                external = {
                    "network": lrp.external_ids[EXTERNAL],
                    "ip": lrp.networks[0] if lrp.networks else None,
                    "gateway": default.nexthop if default is not None else None,
                    "chassis": [g.chassis_name for g in chassis],
                    "mac": lrp.mac,
                }
        snat = sorted(n.external_ids.get(SUBNET, n.logical_ip) for n in router.nat if n.type == "snat")
        routes = sorted(
            (
                {"prefix": r.ip_prefix, "nexthop": r.nexthop}
                for r in router.static_routes
                if r.external_ids.get(ROLE) != "default"
            ),
            key=lambda r: (r["prefix"], r["nexthop"]),
        )
        return {
            "name": router.name,
            "vpc": router.external_ids.get(VPC),
            "subnets": sorted(subnets, key=lambda s: s["switch"]),
            "external_gateway": external,
            "snat": snat,
            "static_routes": routes,
        }

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        subnets = []
        for index, item in enumerate(p.get("subnets") or []):
            row, net = _subnet_of(session, item["switch"], f"subnets[{index}].switch")
            if row.external_ids.get(VPC) != p["vpc"]:
                raise ValidationError(
                    f"subnets[{index}].switch",
                    f"switch {row.name} is in VPC {row.external_ids.get(VPC)}, not {p['vpc']}",
                )
            gateway = (
                item.get("gateway_ip") or row.external_ids.get(GATEWAY) or str(ipam.default_gateway(net))
            )
            ipam.ip_in_subnet(gateway, net, f"subnets[{index}].gateway_ip")
            subnets.append(
                {
                    "switch": row.name,
                    "gateway_ip": str(ipaddress.ip_address(gateway)),
                    "mac": ipam.stable_mac("lrp", p["name"], row.name),
                }
            )
        external = None
        ext = p.get("external_gateway")
        if ext:
            row, net = _subnet_of(session, ext["network"], "external_gateway.network")
            ip = ipam.ip_in_subnet(ext["ip"].split("/")[0], net, "external_gateway.ip")
            gateway = ext.get("gateway")
            if gateway:
                gateway = str(ipam.ip_in_subnet(gateway, net, "external_gateway.gateway"))
            external = {
                "network": row.name,
                "ip": f"{ip}/{net.prefixlen}",
                "gateway": gateway,
                "chassis": list(ext.get("chassis") or []),
                "mac": ipam.stable_mac("lrp", p["name"], "gw"),
            }
        return {
            "name": p["name"],
            "vpc": p["vpc"],
            "subnets": sorted(subnets, key=lambda s: s["switch"]),
            "external_gateway": external,
            "snat": sorted(set(p.get("snat") or [])),
            "static_routes": self.routes,
        }

    def _attach(self, session, txn, router, name, lrp_row, switch, networks, mac, ids):
        if lrp_row is None:
            lrp_row = txn.insert(session.idl.tables["Logical_Router_Port"])
            lrp_row.name = name
            router.addvalue("ports", lrp_row)
        lrp_row.networks = networks
        lrp_row.mac = mac
        lrp_row.external_ids = ids
        peer_name = "lsp-" + name[len("lrp-") :]
        peer = session.find_one("Logical_Switch_Port", name=peer_name)
        if peer is None:
            peer = txn.insert(session.idl.tables["Logical_Switch_Port"])
            peer.name = peer_name
            switch.addvalue("ports", peer)
        peer.type = "router"
        peer.addresses = ["router"]
        peer.options = {"router-port": name}
        peer.external_ids = {ROUTER: self.params["name"]}
        return lrp_row

    def _detach(self, session, router, lrp_row):
        peer = session.find_one("Logical_Switch_Port", name="lsp-" + lrp_row.name[len("lrp-") :])
        if peer is not None:
            switch = switch_of_port(session, peer)
            if switch is not None:
                switch.delvalue("ports", peer)
        router.delvalue("ports", lrp_row)

    def apply(self, session, txn, current, after):
        name = self.params["name"]
        router = session.find_one("Logical_Router", name=name)
        if after is None:
            for lrp in router.ports:
                self._detach(session, router, lrp)
            router.delete()
            return
        is_new = router is None
        if is_new:
            router = txn.insert(session.idl.tables["Logical_Router"])
            router.name = name
            current = {"subnets": [], "external_gateway": None, "snat": [], "static_routes": []}
            lrps = {}
        else:
            lrps = {lrp.name: lrp for lrp in router.ports}
        router.external_ids = {VPC: after["vpc"]}
        wanted = {}
        for item in after["subnets"]:
            switch = find_switch(session, item["switch"])
            net = ipam.parse_cidr(switch.other_config["subnet"])
            lname = lrp_name(name, item["switch"])
            wanted[lname] = self._attach(
                session,
                txn,
                router,
                lname,
                lrps.get(lname),
                switch,
                [f"{item['gateway_ip']}/{net.prefixlen}"],
                item["mac"],
                {SUBNET: item["switch"]},
            )
        ext = after["external_gateway"]
        if ext is not None:
            gname = gw_lrp_name(name)
            switch = find_switch(session, ext["network"])
            gw = self._attach(
                session,
                txn,
                router,
                gname,
                lrps.get(gname),
                switch,
                [ext["ip"]],
                ext["mac"],
                {EXTERNAL: ext["network"]},
            )
            wanted[gname] = gw
            if (
                current.get("external_gateway") is None
                or current["external_gateway"]["chassis"] != ext["chassis"]
            ):
                chassis = []
                for prio, chassis_name in enumerate(reversed(ext["chassis"]), start=1):
                    gc = txn.insert(session.idl.tables["Gateway_Chassis"])
                    gc.name, gc.chassis_name, gc.priority = f"{gname}-{chassis_name}", chassis_name, prio
                    chassis.append(gc)
                gw.gateway_chassis = chassis
        for lname, lrp in lrps.items():
            if lname not in wanted and (SUBNET in lrp.external_ids or EXTERNAL in lrp.external_ids):
                self._detach(session, router, lrp)
        # Routes and SNAT are small: replace them when they differ.
        default_gw = ext["gateway"] if ext else None
        cur_default = (current.get("external_gateway") or {}).get("gateway")
        if current["static_routes"] != after["static_routes"] or cur_default != default_gw:
            for route in [] if is_new else list(router.static_routes):
                router.delvalue("static_routes", route)
            routes = [(r["prefix"], r["nexthop"], {}) for r in after["static_routes"]]
            if default_gw:
                routes.append(("0.0.0.0/0", default_gw, {ROLE: "default"}))
            for prefix, nexthop, ids in routes:
                row = txn.insert(session.idl.tables["Logical_Router_Static_Route"])
                row.ip_prefix, row.nexthop, row.external_ids = prefix, nexthop, ids
                router.addvalue("static_routes", row)
        cur_ext_ip = (current.get("external_gateway") or {}).get("ip")
        if current["snat"] != after["snat"] or (after["snat"] and cur_ext_ip != ext["ip"]):
            for nat in [] if is_new else list(router.nat):
                if nat.type == "snat":
                    router.delvalue("nat", nat)
            for switch_name in after["snat"]:
                row = txn.insert(session.idl.tables["NAT"])
                row.type = "snat"
                row.external_ip = ext["ip"].split("/")[0]
                row.logical_ip = find_switch(session, switch_name).other_config["subnet"]
                row.external_ids = {SUBNET: switch_name}
                router.addvalue("nat", row)


class FloatingIp(_NbResource):
    """A public IP bound to a VM port: one dnat_and_snat NAT row on the VPC router."""

    tables = ("Logical_Router", "Logical_Router_Port", "Logical_Switch", "Logical_Switch_Port", "NAT")
    result_key = "floating_ip"

    def validate(self):
        p = self.params
        self.ip = str(ipam.parse_ip(p["external_ip"], "external_ip"))
        if p["state"] == "present" and not p.get("port"):
            raise ValidationError("port", "is required when state is present")

    def _router(self, session):
        router = session.find_one("Logical_Router", name=self.params["router"])
        if router is None:
            raise ValidationError("router", f"router {self.params['router']} does not exist")
        return router

    def _nat(self, router):
        return next((n for n in router.nat if n.type == "dnat_and_snat" and n.external_ip == self.ip), None)

    def read(self, session):
        router = session.find_one("Logical_Router", name=self.params["router"])
        nat = self._nat(router) if router is not None else None
        if nat is None:
            return None
        return {
            "router": self.params["router"],
            "external_ip": nat.external_ip,
            "port": nat.logical_port[0] if nat.logical_port else None,
            "fixed_ip": nat.logical_ip,
        }

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        router = self._router(session)
        for other in session.table("Logical_Router"):
            if other.name != router.name and any(
                n.type == "dnat_and_snat" and n.external_ip == self.ip for n in other.nat
            ):
                raise ValidationError("external_ip", f"{self.ip} is already bound on router {other.name}")
        gw = next((lrp for lrp in router.ports if EXTERNAL in lrp.external_ids), None)
        if gw is None:
            raise ValidationError("router", f"router {router.name} has no external_gateway")
        ext_net = ipaddress.ip_network(gw.networks[0], strict=False)
        ipam.ip_in_subnet(self.ip, ext_net, "external_ip")
        if self.ip == gw.networks[0].split("/")[0]:
            raise ValidationError("external_ip", f"{self.ip} is the router's own external address")
        lsp = session.find_one("Logical_Switch_Port", name=p["port"])
        if lsp is None or not lsp.addresses:
            raise ValidationError("port", f"port {p['port']} does not exist")
        switch = switch_of_port(session, lsp)
        attached = {lrp.external_ids.get(SUBNET) for lrp in router.ports}
        if switch is None or switch.name not in attached:
            raise ValidationError("port", f"port {p['port']} is not on a subnet of router {router.name}")
        _mac, ips = ipam.parse_addresses(lsp.addresses[0])
        if not ips:
            raise ValidationError("port", f"port {p['port']} has no fixed IP")
        for nat in router.nat:
            if nat.type == "dnat_and_snat" and nat.external_ip != self.ip and nat.logical_ip == ips[0]:
                raise ValidationError("port", f"port {p['port']} already has floating IP {nat.external_ip}")
        return {"router": router.name, "external_ip": self.ip, "port": p["port"], "fixed_ip": ips[0]}

    def apply(self, session, txn, current, after):
        router = self._router(session)
        nat = self._nat(router)
        if after is None:
            router.delvalue("nat", nat)
            return
        router.verify("nat")
        if nat is None:
            nat = txn.insert(session.idl.tables["NAT"])
            nat.type = "dnat_and_snat"
            nat.external_ip = after["external_ip"]
            nat.external_ids = {"scloud:floating_ip": after["external_ip"]}
            router.addvalue("nat", nat)
        # Re-binding rewrites the same row: the public IP never disappears in between.
        nat.logical_ip = after["fixed_ip"]
        nat.logical_port = [after["port"]]


class LoadBalancer(_NbResource):
    """An OVN load balancer: one VIP, its members, optional health check, where it is applied."""

    tables = (
        "Load_Balancer",
        "Load_Balancer_Health_Check",
        "Logical_Router",
        "Logical_Switch",
        "Logical_Switch_Port",
    )
    result_key = "load_balancer"

    def validate(self):
        p = self.params
        if p["state"] == "absent":
            return
        if not p.get("vip"):
            raise ValidationError("vip", "is required when state is present")
        self.vip = "{}:{}".format(*parse_host_and_port(p["vip"], "vip"))
        members = []
        for index, member in enumerate(p.get("members") or []):
            members.append("{}:{}".format(*parse_host_and_port(member, f"members[{index}]")))
        if not members:
            raise ValidationError("members", "needs at least one IP:PORT")
        self.members = sorted(set(members), key=lambda m: (ipaddress.ip_address(m.split(":")[0]), m))

    def read(self, session):
        lb = session.find_one("Load_Balancer", name=self.params["name"])
        if lb is None:
            return None
        vip, members = next(iter(lb.vips.items()), (None, ""))
        hc = lb.health_check[0] if lb.health_check else None
        return {
            "name": lb.name,
            "vip": vip,
            "protocol": lb.protocol[0] if lb.protocol else "tcp",
            "members": [m for m in members.split(",") if m],
            "health_check": dict(hc.options) if hc is not None else None,
            "ip_port_mappings": dict(lb.ip_port_mappings),
            "routers": sorted(r.name for r in session.table("Logical_Router") if lb in r.load_balancer),
            "switches": sorted(s.name for s in session.table("Logical_Switch") if lb in s.load_balancer),
        }

    def plan(self, session, current):
        p = self.params
        if p["state"] == "absent":
            return None
        routers = sorted(set(p.get("routers") or []))
        switches = sorted(set(p.get("switches") or []))
        for option, table, names in (
            ("routers", "Logical_Router", routers),
            ("switches", "Logical_Switch", switches),
        ):
            for name in names:
                if session.find_one(table, name=name) is None:
                    raise ValidationError(option, f"{name} does not exist")
        health, mappings = None, {}
        if p.get("health_check") is not None:
            hc = p["health_check"]
            probe_defaults = (("interval", 5), ("timeout", 20), ("success_count", 3), ("failure_count", 3))
            health = {k: str(hc.get(k, d)) for k, d in probe_defaults}
            # OVN probes a member from the port it is on: map each member IP to its port.
            for member in self.members:
                ip = member.split(":")[0]
                port = self._port_of(session, ip)
                if port is None:
                    raise ValidationError("health_check", f"member {ip} is not the address of any port")
                switch = switch_of_port(session, port)
                source = hc.get("source_ip") or switch.external_ids.get(GATEWAY)
                mappings[ip] = f"{port.name}:{source}"
        return {
            "name": p["name"],
            "vip": self.vip,
            "protocol": p["protocol"],
            "members": self.members,
            "health_check": health,
            "ip_port_mappings": mappings,
            "routers": routers,
            "switches": switches,
        }

    @staticmethod
    def _port_of(session, ip):
        for lsp in session.table("Logical_Switch_Port"):
            for entry in lsp.addresses:
                if ip in ipam.parse_addresses(entry)[1]:
                    return lsp
        return None

    def apply(self, session, txn, current, after):
        lb = session.find_one("Load_Balancer", name=self.params["name"])
        if after is None:
            for table in ("Logical_Router", "Logical_Switch"):
                for row in session.table(table):
                    if lb in row.load_balancer:
                        row.delvalue("load_balancer", lb)
            lb.delete()
            return
        if lb is None:
            lb = txn.insert(session.idl.tables["Load_Balancer"])
            lb.name = self.params["name"]
            current = {"routers": [], "switches": [], "health_check": None}
        lb.vips = {after["vip"]: ",".join(after["members"])}
        lb.protocol = [after["protocol"]]
        lb.external_ids = {LB: self.params["name"]}
        lb.ip_port_mappings = after["ip_port_mappings"]
        if current["health_check"] != after["health_check"] or (current.get("vip") != after["vip"]):
            if after["health_check"] is None:
                lb.health_check = []
            else:
                hc = txn.insert(session.idl.tables["Load_Balancer_Health_Check"])
                hc.vip, hc.options = after["vip"], after["health_check"]
                lb.health_check = [hc]
        for option, table in (("routers", "Logical_Router"), ("switches", "Logical_Switch")):
            for row in session.table(table):
                member = row.name in current[option]
                if row.name in after[option] and not member:
                    row.addvalue("load_balancer", lb)
                elif row.name not in after[option] and member:
                    row.delvalue("load_balancer", lb)
