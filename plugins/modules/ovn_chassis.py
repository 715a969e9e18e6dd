#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_chassis
short_description: A node's OVN chassis settings (name, Southbound remote, tunnel endpoint, mappings)
description:
  - Sets the C(external_ids) that C(ovn-controller) reads from the local C(Open_vSwitch) row, in one
    OVSDB transaction (C(system-id), C(ovn-remote), C(ovn-encap-type), C(ovn-encap-ip),
    C(ovn-bridge-mappings), C(ovn-bridge-datapath-type)). C(ovn-controller) watches them, so a
    change takes effect without a restart.
  - Options left out are not managed; a task that only gives O(central) changes C(ovn-remote) and
    nothing else (what C(expand.yml) and C(remove_node.yml) do on every chassis). Keys written by
    others in C(external_ids) (C(hostname), C(rundir)) are never touched.
  - C(ovn-remote) is built here from the central nodes' addresses (O(central), O(sb_port), O(tls)),
    the one place of that formula in the collection.
  - O(state=absent) removes every key of this module, so the node stops being a chassis.
version_added: 0.2.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovs
  - scloud.stack.attributes
options:
  state:
    description: Whether the node is configured as a chassis.
    type: str
    choices: [present, absent]
    default: present
  system_id:
    description: Name of the chassis in the Southbound database (C(external_ids:system-id)).
    type: str
  central:
    description:
      - Addresses (IP or host name) of the OVN central nodes, in order; C(ovn-remote) becomes
        C(tcp:<address>:<sb_port>) for each, joined by commas (C(ssl:) with O(tls=true)).
      - Mutually exclusive with O(remote).
    type: list
    elements: str
  sb_port:
    description: Port of the Southbound database on the central nodes.
    type: int
    default: 6642
  tls:
    description: Reach the Southbound database over SSL.
    type: bool
    default: false
  remote:
    description: A complete C(ovn-remote) string, instead of O(central).
    type: str
  encap_type:
    description: Tunnel type to the other chassis.
    type: str
    choices: [geneve, vxlan, stt]
  encap_ip:
    description: The node's tunnel endpoint address (its overlay address).
    type: str
  bridge_mappings:
    description: Provider networks reached through local bridges (made by M(scloud.stack.ovs_bridge)).
    type: list
    elements: dict
    suboptions:
      network:
        description: Name of the provider network (the C(network_name) of its C(localnet) port).
        type: str
        required: true
      bridge:
        description: Local bridge of that network.
        type: str
        required: true
  datapath_type:
    description: Datapath type of the bridge ovn-controller creates (V(netdev) without the kernel module).
    type: str
    choices: [system, netdev]
"""

EXAMPLES = r"""
- name: Make this node a chassis of the OVN cluster on the mgmt nodes
  scloud.stack.ovn_chassis:
    system_id: "{{ inventory_hostname }}"
    central: [10.0.0.11, 10.0.0.12, 10.0.0.13]
    encap_type: geneve
    encap_ip: 10.1.0.21
    bridge_mappings:
      - {network: public, bridge: br-ex}

- name: Point the chassis at the central nodes that remain (nothing else changes)
  scloud.stack.ovn_chassis:
    central: [10.0.0.11, 10.0.0.12]
"""

RETURN = r"""
chassis:
  description: The chassis keys of C(external_ids) after the task (empty when absent).
  returned: always
  type: dict
  sample:
    system-id: node1
    ovn-remote: tcp:10.0.0.11:6642,tcp:10.0.0.12:6642
    ovn-encap-type: geneve
    ovn-encap-ip: 10.1.0.21
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.chassis import Chassis
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation


def main():
    spec = OVSDB.argument_spec(
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        system_id={"type": "str"},
        central={"type": "list", "elements": "str"},
        sb_port={"type": "int", "default": 6642},
        tls={"type": "bool", "default": False},
        remote={"type": "str"},
        encap_type={"type": "str", "choices": ["geneve", "vxlan", "stt"]},
        encap_ip={"type": "str"},
        bridge_mappings={
            "type": "list",
            "elements": "dict",
            "options": {
                "network": {"type": "str", "required": True},
                "bridge": {"type": "str", "required": True},
            },
        },
        datapath_type={"type": "str", "choices": ["system", "netdev"]},
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_together=OVSDB.required_together,
        mutually_exclusive=[("central", "remote")],
        supports_check_mode=True,
    )
    run_module(module, OVSDB, ResourceOperation(Chassis))


if __name__ == "__main__":
    main()
