#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_port
short_description: Manage a VM NIC on a VPC subnet (an OVN logical switch port)
description:
  - Creates, updates or removes a logical switch port with its MAC, fixed IPs, port security,
    DHCP and security groups, in one OVSDB transaction.
  - Without O(ips) the port gets the lowest free address of its subnet (not the gateway, not an
    excluded address, not used by another port); once allocated it is kept on later runs.
  - Without O(mac) a locally administered MAC derived from the switch and port names is used, so
    re-runs and check mode give the same one.
  - A port with at least one security group only passes traffic its groups allow (and replies to
    it); a port with none is not filtered.
  - Bind a hypervisor interface to the port with C(external_ids:iface-id=<name>) on its OVS
    interface (see M(scloud.stack.ovs_port)).
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn
  - scloud.stack.attributes
options:
  switch:
    description: The subnet (M(scloud.stack.ovn_switch)) the port is on. Required when O(state=present).
    type: str
  name:
    description: Port name (unique in the Northbound database). Required unless O(ports) is given.
    type: str
  mac:
    description: MAC address. Default kept from an earlier run, else derived from the names.
    type: str
  ips:
    description: Fixed IPv4 addresses inside the subnet. Default one address allocated from the subnet.
    type: list
    elements: str
  port_security:
    description: Drop traffic from the port whose source MAC/IP is not the port's.
    type: bool
    default: true
  security_groups:
    description:
      - Security groups (M(scloud.stack.ovn_security_group)) of the port, the exact set.
      - Unset keeps the current ones.
    type: list
    elements: str
  state:
    description: Whether the port exists.
    type: str
    choices: [present, absent]
    default: present
  ports:
    description:
      - Many ports in ONE task and ONE OVSDB transaction (instead of O(name) and the options above).
        Addresses allocated for earlier items are not given to later ones.
      - Each item takes the same options as the module (connection options excepted).
    type: list
    elements: dict
    suboptions:
      switch: {description: See O(switch)., type: str}
      name: {description: See O(name)., type: str, required: true}
      mac: {description: See O(mac)., type: str}
      ips: {description: See O(ips)., type: list, elements: str}
      port_security: {description: See O(port_security)., type: bool, default: true}
      security_groups: {description: See O(security_groups)., type: list, elements: str}
      state: {description: See O(state)., type: str, choices: [present, absent], default: present}
"""

EXAMPLES = r"""
- name: NIC of vm1, address allocated from the subnet
  scloud.stack.ovn_port:
    switch: blue-web
    name: vm1-eth0
    security_groups: [web]

- name: A fixed address and MAC
  scloud.stack.ovn_port:
    switch: blue-web
    name: vm2-eth0
    mac: "0a:58:0a:0a:01:0b"
    ips: [10.10.1.11]
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
    switch: blue-web
    name: vm1-eth0
    mac: "0a:58:3f:2e:11:07"
    ips: [10.10.1.10]
    port_security: true
    security_groups: [web]
    dhcp: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.northbound import LogicalPort
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation


def main():
    item = dict(
        switch={"type": "str"},
        name={"type": "str"},
        mac={"type": "str"},
        ips={"type": "list", "elements": "str"},
        port_security={"type": "bool", "default": True},
        security_groups={"type": "list", "elements": "str"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
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
    run_module(module, OVSDB, ResourceOperation(LogicalPort, items_key="ports"))


if __name__ == "__main__":
    main()
