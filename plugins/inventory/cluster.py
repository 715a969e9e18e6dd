# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster
short_description: SCloudStack cluster file as an inventory
version_added: 0.1.0
description:
  - Reads a cluster file that describes datacenters, racks, sets and nodes and yields the groups
    C(mgmt), C(compute), C(storage), C(set_<name>), C(rack_<name>), C(dc_<name>) and one group named
    after the cluster holding every node.
  - Each host gets C(ansible_host), C(scloud_overlay_address) and, when it has disks,
    C(scloud_disks). Its groups give it C(scloud_set), C(scloud_rack) and C(scloud_datacenter), and
    every host gets C(scloud_roles) (its groups among C(compute), C(mgmt), C(storage)) and
    C(ceph_crush_location) (datacenter, rack, host) as templates of those. This keeps a 10,000-node
    file under 2 s. A C(dc_<name>) group holds its racks' C(rack_<name>) groups and the cluster's
    group holds the C(dc_<name>) groups (same members, fewer entries).
    Every host also gets the cluster-wide C(scloud_mgmt_nodes), C(scloud_mgmt_addresses),
    C(ceph_mon_hosts), C(ovn_central_nodes), C(ovn_nb_remotes) and C(ovn_sb_remotes).
  - The file is validated before any host is added; a rule that is broken fails with the place in
    the file and the rule. Rules - a set holds at most 45 nodes; node names and addresses are
    unique; every node has a role among C(mgmt), C(compute), C(storage); the number of mgmt nodes
    is 1 or odd; in every set with storage nodes, the storage nodes span at least C(cluster.pool_size)
    failure domains of type C(cluster.failure_domain).
  - The file name must end with C(cluster.yml) or C(cluster.yaml). Its values are data, never
    templated (only the plugin's own C(scloud_roles) and C(ceph_crush_location) are templates);
    put templated variables in C(group_vars).
options:
  plugin:
    description: Marks the file as one for this plugin.
    required: true
    type: str
    choices: [scloud.stack.cluster]
  cluster:
    description:
      - C(name) (the group of every node), C(pool_size) (default 3), C(failure_domain) (C(host),
        C(rack) or C(datacenter); default C(host)), C(vars) (variables for every host).
    type: dict
    default: {}
  datacenters:
    description:
      - List of datacenters, each with C(name) and C(racks); each rack has C(name), an optional
        default C(set) for its nodes, and C(nodes).
      - A node has C(name), C(address), optional C(overlay_address), C(roles), optional C(set),
        C(disks) and C(vars).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
# inventories/example/cluster.yml
plugin: scloud.stack.cluster
cluster:
  name: prod
  pool_size: 3
  failure_domain: rack
datacenters:
  - name: dc1
    racks:
      - name: r1
        set: set1
        nodes:
          - {name: node1, address: 10.0.1.11, roles: [mgmt, compute, storage], disks: [/dev/sdb]}
"""

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.template import trust_as_template
from ansible_collections.scloud.stack.plugins.plugin_utils import fast_yaml
from ansible_collections.scloud.stack.plugins.plugin_utils.cluster import ClusterError, parse


class InventoryModule(BaseInventoryPlugin):
    NAME = "scloud.stack.cluster"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("cluster.yml", "cluster.yaml"))

    @staticmethod
    def _load(path):
        # The cluster file is data (no templates, no vault): libyaml's parser with a small builder
        # (plugin_utils.fast_yaml) gives what the safe loader gives, in a fifth of the time; Ansible's
        # own loader (origin tags, deep copies) takes seconds on a 10,000-node file.
        try:
            with open(path, "rb") as fh:
                return fast_yaml.load(fh.read())
        except (OSError, yaml.YAMLError) as exc:
            raise AnsibleParserError(f"{path}: cannot read the cluster file: {exc}") from None

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        data = self._load(path)
        if not isinstance(data, dict) or data.get("plugin") not in (self.NAME, "cluster"):
            raise AnsibleParserError(f"{path}: not a cluster file (plugin: {self.NAME} is missing)")
        try:
            cluster = parse({k: v for k, v in data.items() if k != "plugin"})
        except ClusterError as exc:
            raise AnsibleParserError(f"{path}: {exc}") from None
        # Groups first, then hosts, then membership: a group holds child groups where it can
        # (datacenter -> racks, cluster -> datacenters), which is the same membership in fewer calls.
        layout = cluster.layout()
        inventory = self.inventory
        for group in layout:
            inventory.add_group(group)
        for node in cluster.nodes:
            inventory.add_host(node.name)
        for group, spec in layout.items():
            for child in spec["children"]:
                inventory.add_child(group, child)
            for member in spec["hosts"]:
                inventory.add_child(group, member)
            for key, value in spec["vars"].items():
                inventory.set_variable(group, key, value)
        for key, value in cluster.cluster_vars().items():
            inventory.set_variable("all", key, value)
        for key, value in cluster.derived_vars().items():
            inventory.set_variable("all", key, trust_as_template(value))
        for node in cluster.nodes:
            for key, value in cluster.own_host_vars(node).items():
                inventory.set_variable(node.name, key, value)
