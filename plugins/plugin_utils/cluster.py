# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster file: datacenters, racks, sets and nodes, validated and turned into an inventory.

Pure logic, no Ansible import: the ``scloud.stack.cluster`` inventory plugin feeds it the parsed
YAML and adds the hosts, groups and variables it returns. Every rule failure names the place in
the file and the rule, e.g. ``datacenters[0].racks[1].nodes[3].roles: a node needs at least one
role among compute, mgmt, storage``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

ROLES = ("compute", "mgmt", "storage")
MAX_SET_NODES = 45
FAILURE_DOMAINS = ("host", "rack", "datacenter")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_GROUP = re.compile(r"[^a-z0-9_]")


class ClusterError(ValueError):
    """The cluster file breaks a rule; the message names where and which."""


@dataclass
class Node:
    name: str
    address: str
    overlay_address: str
    roles: tuple
    set: str
    rack: str
    datacenter: str
    disks: list = field(default_factory=list)
    vars: dict = field(default_factory=dict)


@dataclass
class Cluster:
    name: str
    pool_size: int
    failure_domain: str
    nodes: list
    vars: dict

    def groups(self):
        """Group name -> member host names, in file order."""
        out = {self.group_name(self.name): [], **{role: [] for role in ROLES}}
        for node in self.nodes:
            out[self.group_name(self.name)].append(node.name)
            for role in node.roles:
                out[role].append(node.name)
            for prefix, value in (("set", node.set), ("rack", node.rack), ("dc", node.datacenter)):
                out.setdefault(self.group_name(f"{prefix}_{value}"), []).append(node.name)
        return out

    @staticmethod
    def group_name(name):
        return _GROUP.sub("_", name.lower())

    def host_vars(self, node):
        """Every variable of one host, computed: what a static inventory would hold."""
        out = {
            "scloud_set": node.set,
            "scloud_rack": node.rack,
            "scloud_datacenter": node.datacenter,
            "scloud_roles": list(node.roles),
            "ceph_crush_location": {"datacenter": node.datacenter, "rack": node.rack, "host": node.name},
        }
        out.update(self.own_host_vars(node))
        return out

    def own_host_vars(self, node):
        """The variables the plugin sets on the host itself. Each costs time on a 10,000-node file
        (Ansible copies and tags every value), so the rest comes from groups: ``scloud_set``,
        ``scloud_rack`` and ``scloud_datacenter`` from the ``set_``, ``rack_`` and ``dc_`` groups,
        ``scloud_roles`` and ``ceph_crush_location`` from the templates of :meth:`derived_vars`."""
        out = {"ansible_host": node.address, "scloud_overlay_address": node.overlay_address}
        if node.disks:
            out["scloud_disks"] = node.disks
        if node.vars:
            out.update(node.vars)
        return out

    @staticmethod
    def derived_vars():
        """Variables of every host computed from its groups: Jinja templates the plugin marks trusted
        (the cluster file's own values stay data, never templated)."""
        roles = ", ".join(f"'{role}'" for role in ROLES)
        return {
            "scloud_roles": "{{ [" + roles + "] | select('in', group_names) | list }}",
            "ceph_crush_location": (
                "{{ {'datacenter': scloud_datacenter, 'rack': scloud_rack, 'host': inventory_hostname} }}"
            ),
        }

    def layout(self):
        """The inventory as few calls build it: group -> {"hosts", "children", "vars"}.

        The same membership as :meth:`groups`, but a ``dc_`` group holds its ``rack_`` groups and
        the cluster group its ``dc_`` groups as children rather than every host, when a rack lies
        in one datacenter only (rack names may repeat across datacenters)."""
        cluster_group = self.group_name(self.name)
        out = {}

        def group(name):
            return out.setdefault(name, {"hosts": [], "children": [], "vars": {}})

        group(cluster_group)
        for role in ROLES:
            group(role)
        rack_dcs = {}
        for node in self.nodes:
            rack_dcs.setdefault(self.group_name(f"rack_{node.rack}"), set()).add(node.datacenter)
        for node in self.nodes:
            for role in node.roles:
                out[role]["hosts"].append(node.name)
            set_group = group(self.group_name(f"set_{node.set}"))
            set_group["hosts"].append(node.name)
            set_group["vars"]["scloud_set"] = node.set
            rack = self.group_name(f"rack_{node.rack}")
            dc = self.group_name(f"dc_{node.datacenter}")
            rack_group = group(rack)
            rack_group["hosts"].append(node.name)
            rack_group["vars"]["scloud_rack"] = node.rack
            dc_group = group(dc)
            dc_group["vars"]["scloud_datacenter"] = node.datacenter
            if len(rack_dcs[rack]) == 1:
                if rack not in dc_group["children"]:
                    dc_group["children"].append(rack)
            else:
                dc_group["hosts"].append(node.name)
            if dc not in out[cluster_group]["children"]:
                out[cluster_group]["children"].append(dc)
        return out

    def cluster_vars(self):
        """Variables every host gets: who the management nodes are, for OVN, Ceph and the API."""
        mgmt = [n for n in self.nodes if "mgmt" in n.roles]
        return {
            "scloud_cluster_name": self.name,
            "scloud_pool_size": self.pool_size,
            "scloud_failure_domain": self.failure_domain,
            "scloud_mgmt_nodes": [n.name for n in mgmt],
            "scloud_mgmt_addresses": [n.address for n in mgmt],
            "ceph_mon_hosts": [n.address for n in mgmt],
            "ovn_central_nodes": [n.name for n in mgmt],
            "ovn_nb_remotes": ",".join(f"tcp:{n.address}:6641" for n in mgmt),
            "ovn_sb_remotes": ",".join(f"tcp:{n.address}:6642" for n in mgmt),
            **self.vars,
        }


def _require(cond, where, rule):
    if not cond:
        raise ClusterError(f"{where}: {rule}")


def _name(value, where):
    _require(
        isinstance(value, str) and _NAME.match(value or ""),
        f"{where}",
        f"{value!r} is not a valid name (lowercase letters, digits and '-', at most 63)",
    )
    return value


def _address(value, where):
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise ClusterError(f"{where}: {value!r} is not a valid IP address") from None


def _list(value, where):
    _require(isinstance(value, list), where, f"must be a list, got {type(value).__name__}")
    return value


def _dict(value, where):
    _require(isinstance(value, dict), where, f"must be a mapping, got {type(value).__name__}")
    return value


def parse(data):
    """Validate the parsed cluster file ``data``; return a :class:`Cluster`."""
    _dict(data, "cluster file")
    spec = _dict(data.get("cluster") or {}, "cluster")
    name = _name(spec.get("name", "cluster"), "cluster.name")
    pool_size = spec.get("pool_size", 3)
    _require(
        isinstance(pool_size, int) and not isinstance(pool_size, bool) and pool_size >= 1,
        "cluster.pool_size",
        f"{pool_size!r} must be an integer >= 1",
    )
    failure_domain = spec.get("failure_domain", "host")
    _require(
        failure_domain in FAILURE_DOMAINS,
        "cluster.failure_domain",
        f"{failure_domain!r} must be one of {', '.join(FAILURE_DOMAINS)}",
    )
    cluster_vars = _dict(spec.get("vars") or {}, "cluster.vars")

    nodes = []
    seen_names = {}
    seen_addresses = {}
    for d, dc in enumerate(_list(data.get("datacenters") or [], "datacenters")):
        dwhere = f"datacenters[{d}]"
        _dict(dc, dwhere)
        dc_name = _name(dc.get("name"), f"{dwhere}.name")
        for r, rack in enumerate(_list(dc.get("racks") or [], f"{dwhere}.racks")):
            rwhere = f"{dwhere}.racks[{r}]"
            _dict(rack, rwhere)
            rack_name = _name(rack.get("name"), f"{rwhere}.name")
            rack_set = rack.get("set", "default")
            for n, node in enumerate(_list(rack.get("nodes") or [], f"{rwhere}.nodes")):
                nwhere = f"{rwhere}.nodes[{n}]"
                _dict(node, nwhere)
                node_name = _name(node.get("name"), f"{nwhere}.name")
                if node_name in seen_names:
                    raise ClusterError(
                        f"{nwhere}.name: {node_name!r} is already the name of {seen_names[node_name]}"
                    )
                seen_names[node_name] = nwhere
                _require("address" in node, f"{nwhere}.address", "every node needs an address")
                address = _address(node["address"], f"{nwhere}.address")
                if address in seen_addresses:
                    raise ClusterError(
                        f"{nwhere}.address: {address} is already the address of {seen_addresses[address]}"
                    )
                seen_addresses[address] = node_name
                overlay = (
                    _address(node["overlay_address"], f"{nwhere}.overlay_address")
                    if "overlay_address" in node
                    else address
                )
                roles = _list(node.get("roles") or [], f"{nwhere}.roles")
                _require(roles, f"{nwhere}.roles", f"a node needs at least one role among {', '.join(ROLES)}")
                unknown = sorted(set(roles) - set(ROLES))
                _require(
                    not unknown,
                    f"{nwhere}.roles",
                    f"unknown role(s) {', '.join(map(str, unknown))}: use {', '.join(ROLES)}",
                )
                node_set = _name(str(node.get("set", rack_set)), f"{nwhere}.set")
                disks = _list(node.get("disks") or [], f"{nwhere}.disks")
                nodes.append(
                    Node(
                        name=node_name,
                        address=address,
                        overlay_address=overlay,
                        roles=tuple(r for r in ROLES if r in roles),
                        set=node_set,
                        rack=rack_name,
                        datacenter=dc_name,
                        disks=disks,
                        vars=_dict(node.get("vars") or {}, f"{nwhere}.vars"),
                    )
                )

    _require(nodes, "datacenters", "the cluster has no node")
    cluster = Cluster(
        name=name, pool_size=pool_size, failure_domain=failure_domain, nodes=nodes, vars=cluster_vars
    )
    _check_sets(cluster)
    _check_mgmt(cluster)
    return cluster


def _check_sets(cluster):
    members = {}
    for node in cluster.nodes:
        members.setdefault(node.set, []).append(node)
    for set_name, nodes in members.items():
        if len(nodes) > MAX_SET_NODES:
            raise ClusterError(
                f"set {set_name!r}: {len(nodes)} nodes, a set holds at most {MAX_SET_NODES}; "
                "split it into sets"
            )
        storage = [n for n in nodes if "storage" in n.roles]
        if not storage:
            continue
        attr = {"host": "name", "rack": "rack", "datacenter": "datacenter"}[cluster.failure_domain]
        domains = {getattr(n, attr) for n in storage}
        if len(domains) < cluster.pool_size:
            raise ClusterError(
                f"set {set_name!r}: its storage nodes span {len(domains)} failure domain(s) of type "
                f"{cluster.failure_domain} but cluster.pool_size is {cluster.pool_size}: every copy needs "
                f"its own {cluster.failure_domain}"
            )


def _check_mgmt(cluster):
    count = sum(1 for n in cluster.nodes if "mgmt" in n.roles)
    _require(count >= 1, "roles", "the cluster needs at least one mgmt node")
    _require(
        count == 1 or count % 2 == 1,
        "roles",
        f"{count} mgmt nodes: use 1 or an odd number (3, 5...) so the Ceph mon and OVN RAFT quorums "
        "survive a failure",
    )
