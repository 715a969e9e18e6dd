#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_router
short_description: Manage a VPC router (OVN logical router, NAT gateway, static routes)
description:
  - One OVN logical router per VPC. Each subnet in O(subnets) is attached through a router port
    holding the subnet's gateway IP (and its peer switch port of type C(router)).
  - O(external_gateway) attaches the router to an external network (a switch made with
    M(scloud.stack.ovn_switch)) and adds the default route; O(snat) makes it the NAT gateway of
    the listed subnets.
  - Subnets, SNAT and static routes are the exact sets (what is not listed is removed). Floating
    IPs (M(scloud.stack.ovn_floating_ip)) are left alone. One OVSDB transaction per task.
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn
  - scloud.stack.attributes
options:
  name:
    description: Router name.
    type: str
    required: true
  vpc:
    description: The VPC; every attached subnet must belong to it. Required when O(state=present).
    type: str
  subnets:
    description: Subnets attached to the router.
    type: list
    elements: dict
    default: []
    suboptions:
      switch:
        description: Subnet (switch) name.
        type: str
        required: true
      gateway_ip:
        description: Router address on the subnet. Default the subnet's C(gateway_ip).
        type: str
  external_gateway:
    description: Uplink to an external network.
    type: dict
    suboptions:
      network:
        description: The external network (a switch with a subnet).
        type: str
        required: true
      ip:
        description: Router address on the external network.
        type: str
        required: true
      gateway:
        description: Next hop of the default route.
        type: str
      chassis:
        description:
          - Chassis that may host the gateway, highest priority first (OVN's C(Gateway_Chassis)).
          - NAT needs at least one.
        type: list
        elements: str
  snat:
    description: Subnets whose traffic leaves with the external gateway's address (NAT gateway).
    type: list
    elements: str
    default: []
  static_routes:
    description: Extra routes, each C(prefix) and C(nexthop).
    type: list
    elements: dict
    default: []
  state:
    description: Whether the router exists.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Router of VPC blue with a NAT gateway
  scloud.stack.ovn_router:
    name: blue-router
    vpc: blue
    subnets:
      - switch: blue-web
      - switch: blue-db
    external_gateway:
      network: public
      ip: 203.0.113.10
      gateway: 203.0.113.1
      chassis: [compute-1, compute-2]
    snat: [blue-web, blue-db]
"""

RETURN = r"""
router:
  description: The router after the task (empty when absent).
  returned: always
  type: dict
  sample:
    name: blue-router
    vpc: blue
    subnets: [{switch: blue-web, gateway_ip: 10.10.1.1, mac: "0a:58:11:22:33:44"}]
    external_gateway: {network: public, ip: 203.0.113.10/24, gateway: 203.0.113.1,
                       chassis: [compute-1], mac: "0a:58:55:66:77:88"}
    snat: [blue-web]
    static_routes: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation
from ansible_collections.scloud.stack.plugins.module_utils._ovs.routing import Router


def main():
    spec = OVSDB.argument_spec(
        name={"type": "str", "required": True},
        vpc={"type": "str"},
        subnets={
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "switch": {"type": "str", "required": True},
                "gateway_ip": {"type": "str"},
            },
        },
        external_gateway={
            "type": "dict",
            "options": {
                "network": {"type": "str", "required": True},
                "ip": {"type": "str", "required": True},
                "gateway": {"type": "str"},
                "chassis": {"type": "list", "elements": "str"},
            },
        },
        snat={"type": "list", "elements": "str", "default": []},
        static_routes={"type": "list", "elements": "dict", "default": []},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(Router))


if __name__ == "__main__":
    main()
