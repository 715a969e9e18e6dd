#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_port
short_description: Manage an Open vSwitch port (and its interface) through OVSDB
description:
  - Creates, updates, moves or removes a port with one interface of the same name, in one
    transaction, then waits for C(ovs-vswitchd) to apply it.
  - A port that sits on another bridge is moved to O(bridge) in the same transaction.
  - O(options) is reconciled exactly on existing ports too; O(external_ids) is merged into the
    interface's C(external_ids) (where C(ovn-controller) reads C(iface-id)).
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovs
  - scloud.stack.attributes
options:
  bridge:
    description: Bridge the port belongs to. Required when O(state=present).
    type: str
  name:
    description: Port (and interface) name. Required unless O(ports) is given.
    type: str
  state:
    description: Whether the port exists.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Interface type. C(system) is an existing network device; C(internal) a device created by
        Open vSwitch; C(vxlan) and C(geneve) tunnels need C(options.remote_ip); C(patch) needs
        C(options.peer). Unset keeps the current type (new ports are C(system)).
    type: str
    choices: [system, internal, vxlan, geneve, patch]
  options:
    description: The interface's exact C(options) map (for example C(remote_ip), C(key), C(peer)).
    type: dict
  vlan_mode:
    description: VLAN mode of the port.
    type: str
    choices: [access, trunk, native-tagged, native-untagged]
  tag:
    description: VLAN tag, 0 to 4095.
    type: int
  trunks:
    description: VLANs trunked by the port (exact set), each 0 to 4095.
    type: list
    elements: int
  external_ids:
    description: Keys merged into the interface's C(external_ids); a C(null) value removes the key.
    type: dict
  ports:
    description:
      - Many ports in ONE task and ONE OVSDB transaction (instead of O(name) and the options above).
      - Each item takes the same options as the module (connection options excepted).
    type: list
    elements: dict
    suboptions:
      bridge: {description: See O(bridge)., type: str}
      name: {description: See O(name)., type: str, required: true}
      state: {description: See O(state)., type: str, choices: [present, absent], default: present}
      type: {description: See O(type)., type: str, choices: [system, internal, vxlan, geneve, patch]}
      options: {description: See O(options)., type: dict}
      vlan_mode:
        description: See O(vlan_mode).
        type: str
        choices: [access, trunk, native-tagged, native-untagged]
      tag: {description: See O(tag)., type: int}
      trunks: {description: See O(trunks)., type: list, elements: int}
      external_ids: {description: See O(external_ids)., type: dict}
"""

EXAMPLES = r"""
- name: A VM tap device on the integration bridge, bound to an OVN logical port
  scloud.stack.ovs_port:
    bridge: br-int
    name: tap-vm1
    external_ids:
      iface-id: vm1-eth0

- name: An access port on VLAN 100
  scloud.stack.ovs_port:
    bridge: br-ex
    name: mgmt0
    type: internal
    vlan_mode: access
    tag: 100

- name: Several ports in one task, one transaction
  scloud.stack.ovs_port:
    ports:
      - {bridge: br-int, name: tap-vm1, external_ids: {iface-id: vm1-eth0}}
      - {bridge: br-int, name: tap-vm2, external_ids: {iface-id: vm2-eth0}}

- name: A Geneve tunnel to another node
  scloud.stack.ovs_port:
    bridge: br-tun
    name: gnv-node3
    type: geneve
    options:
      remote_ip: 192.0.2.13
      key: flow
"""

RETURN = r"""
ports:
  description: The ports after the task, in the order of O(ports).
  returned: when O(ports) is given
  type: list
  elements: dict
port:
  description: The port after the task (empty when absent).
  returned: when O(name) is given
  type: dict
  sample:
    bridge: br-int
    name: tap-vm1
    type: system
    options: {}
    vlan_mode: null
    tag: null
    trunks: []
    external_ids: {iface-id: vm1-eth0}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation
from ansible_collections.scloud.stack.plugins.module_utils._ovs.vswitch import PORT_TYPES, VLAN_MODES, Port


def main():
    item = dict(
        bridge={"type": "str"},
        name={"type": "str"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        type={"type": "str", "choices": list(PORT_TYPES)},
        options={"type": "dict"},
        vlan_mode={"type": "str", "choices": list(VLAN_MODES)},
        tag={"type": "int"},
        trunks={"type": "list", "elements": "int"},
        external_ids={"type": "dict"},
    )
    item_options = dict(item, name={"type": "str", "required": True})
    spec = OVSDB.argument_spec(**item, ports={"type": "list", "elements": "dict", "options": item_options})
    module = AnsibleModule(
        argument_spec=spec,
        required_together=OVSDB.required_together,
        required_one_of=[("name", "ports")],
        mutually_exclusive=[("name", "ports")],
        supports_check_mode=True,
    )
    run_module(module, OVSDB, ResourceOperation(Port, items_key="ports"))


if __name__ == "__main__":
    main()
