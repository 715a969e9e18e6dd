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
  - Each host gets C(ansible_host), C(scloud_overlay_address), C(scloud_roles), C(scloud_set),
    C(ceph_crush_location) (datacenter, rack, host) and, when it has disks, C(scloud_disks).
    Every host also gets the cluster-wide C(scloud_mgmt_nodes), C(scloud_mgmt_addresses),
    C(ceph_mon_hosts), C(ovn_central_nodes), C(ovn_nb_remotes) and C(ovn_sb_remotes).
  - The file is validated before any host is added; a rule that is broken fails with the place in
    the file and the rule. Rules - a set holds at most 45 nodes; node names and addresses are
    unique; every node has a role among C(mgmt), C(compute), C(storage); the number of mgmt nodes
    is 1 or odd; in every set with storage nodes, the storage nodes span at least C(cluster.pool_size)
    failure domains of type C(cluster.failure_domain).
  - The file name must end with C(cluster.yml) or C(cluster.yaml). Its values are data, never
    templated; put templated variables in C(group_vars).
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
from ansible_collections.scloud.stack.plugins.plugin_utils.cluster import ClusterError, parse


class InventoryModule(BaseInventoryPlugin):
    NAME = "scloud.stack.cluster"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("cluster.yml", "cluster.yaml"))

    @staticmethod
    def _load(path):
        # libyaml's safe loader directly: the cluster file is data (no templates, no vault), and
        # Ansible's own loader (origin tags, deep copies) takes seconds on a 10,000-node file.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            with open(path, "rb") as fh:
                return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
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
        groups = cluster.groups()
        for group in groups:
            self.inventory.add_group(group)
        for node in cluster.nodes:
            self.inventory.add_host(node.name)
        for group, members in groups.items():
            for member in members:
                self.inventory.add_child(group, member)
        for key, value in cluster.cluster_vars().items():
            self.inventory.set_variable("all", key, value)
        for node in cluster.nodes:
            for key, value in cluster.host_vars(node).items():
                self.inventory.set_variable(node.name, key, value)
