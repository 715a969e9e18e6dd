#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_floating_ip
short_description: Bind a public IP to a VM port (OVN dnat_and_snat)
description:
  - A floating IP is one C(dnat_and_snat) NAT row on the VPC router, from O(external_ip) to the
    fixed IP of O(port).
  - Binding it to another port rewrites the same row in one transaction, while the VMs run.
  - An address already bound on another router is refused.
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn
  - scloud.stack.attributes
options:
  router:
    description: The VPC router (M(scloud.stack.ovn_router)), which must have an external gateway.
    type: str
    required: true
  external_ip:
    description: The public address, inside the router's external network.
    type: str
    required: true
  port:
    description: The VM port (M(scloud.stack.ovn_port)) on one of the router's subnets. Required when present.
    type: str
  state:
    description: Whether the floating IP is bound.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Public IP of the web VM
  scloud.stack.ovn_floating_ip:
    router: blue-router
    external_ip: 203.0.113.20
    port: vm1-eth0
"""

RETURN = r"""
floating_ip:
  description: The binding after the task (empty when absent).
  returned: always
  type: dict
  sample: {router: blue-router, external_ip: 203.0.113.20, port: vm1-eth0, fixed_ip: 10.10.1.10}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation
from ansible_collections.scloud.stack.plugins.module_utils._ovs.routing import FloatingIp


def main():
    spec = OVSDB.argument_spec(
        router={"type": "str", "required": True},
        external_ip={"type": "str", "required": True},
        port={"type": "str"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(FloatingIp))


if __name__ == "__main__":
    main()
