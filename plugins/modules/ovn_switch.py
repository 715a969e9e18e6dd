#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_switch
short_description: Manage a VPC subnet (an OVN logical switch with IPAM and DHCP)
description:
  - A subnet of a VPC is one OVN logical switch. The VPC is a label (C(external_ids:scloud:vpc));
    subnets of one VPC may not overlap, subnets of different VPCs may.
  - The switch's C(other_config:subnet) and C(exclude_ips) are set so OVN's own IPAM never hands out
    the gateway or excluded addresses; with O(dhcp) a C(DHCP_Options) row serves the subnet.
  - One OVSDB transaction per task.
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn
  - scloud.stack.attributes
options:
  name:
    description: Switch (subnet) name.
    type: str
    required: true
  vpc:
    description: The VPC the subnet belongs to. Required when O(state=present).
    type: str
  cidr:
    description: IPv4 network of the subnet, strict form (C(10.0.1.0/24)), /30 or larger.
    type: str
  gateway_ip:
    description: Address of the subnet's router port. Default the first host of O(cidr).
    type: str
  dhcp:
    description: Serve DHCP (OVN native) on the subnet.
    type: bool
    default: true
  dns_servers:
    description: DNS servers handed out by DHCP.
    type: list
    elements: str
  exclude_ips:
    description: Addresses (C(10.0.1.5)) or ranges (C(10.0.1.10..10.0.1.20)) never allocated to ports.
    type: list
    elements: str
  state:
    description:
      - Whether the subnet exists. Removing a subnet that still has VM ports fails and names them.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: A web subnet in VPC blue
  scloud.stack.ovn_switch:
    name: blue-web
    vpc: blue
    cidr: 10.10.1.0/24
    dns_servers: [10.0.0.53]
    exclude_ips: [10.10.1.2..10.10.1.9]

- name: Remove it
  scloud.stack.ovn_switch:
    name: blue-web
    state: absent
"""

RETURN = r"""
switch:
  description: The subnet after the task (empty when absent).
  returned: always
  type: dict
  sample:
    name: blue-web
    vpc: blue
    cidr: 10.10.1.0/24
    gateway_ip: 10.10.1.1
    exclude_ips: [10.10.1.2..10.10.1.9]
    dns_servers: [10.0.0.53]
    dhcp: true
    dhcp_options: {lease_time: "3600", router: 10.10.1.1, server_id: 10.10.1.1,
                   server_mac: "0a:58:12:34:56:78", mtu: "1442", dns_server: "{10.0.0.53}"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.northbound import Switch
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation


def main():
    spec = OVSDB.argument_spec(
        name={"type": "str", "required": True},
        vpc={"type": "str"},
        cidr={"type": "str"},
        gateway_ip={"type": "str"},
        dhcp={"type": "bool", "default": True},
        dns_servers={"type": "list", "elements": "str"},
        exclude_ips={"type": "list", "elements": "str"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(Switch))


if __name__ == "__main__":
    main()
