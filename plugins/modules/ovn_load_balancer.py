#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_load_balancer
short_description: Manage an OVN load balancer (one VIP, its members, health check)
description:
  - One C(Load_Balancer) row with one VIP C(ip:port) spread over O(members), applied to the
    listed routers and switches (exact sets). One OVSDB transaction per task.
  - With O(health_check), OVN probes each member from the port that holds its address; members must
    be addresses of ports (M(scloud.stack.ovn_port)).
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn
  - scloud.stack.attributes
options:
  name:
    description: Load balancer name.
    type: str
    required: true
  vip:
    description: Virtual IP and port, C(IP:PORT). Required when present.
    type: str
  protocol:
    description: Transport protocol.
    type: str
    choices: [tcp, udp]
    default: tcp
  members:
    description: Backends, each C(IP:PORT).
    type: list
    elements: str
    default: []
  health_check:
    description:
      - Probe members; keys C(interval) (5), C(timeout) (20), C(success_count) (3),
        C(failure_count) (3) and C(source_ip) (default the member subnet's gateway IP).
    type: dict
  routers:
    description: Routers the load balancer is applied to.
    type: list
    elements: str
    default: []
  switches:
    description: Switches the load balancer is applied to.
    type: list
    elements: str
    default: []
  state:
    description: Whether the load balancer exists.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: HTTP on the web tier
  scloud.stack.ovn_load_balancer:
    name: web-http
    vip: 10.10.1.100:80
    members: [10.10.1.10:8080, 10.10.1.11:8080]
    health_check: {interval: 5}
    switches: [blue-web]
    routers: [blue-router]
"""

RETURN = r"""
load_balancer:
  description: The load balancer after the task (empty when absent).
  returned: always
  type: dict
  sample:
    name: web-http
    vip: 10.10.1.100:80
    protocol: tcp
    members: [10.10.1.10:8080, 10.10.1.11:8080]
    health_check: {interval: "5", timeout: "20", success_count: "3", failure_count: "3"}
    ip_port_mappings: {10.10.1.10: "vm1-eth0:10.10.1.1"}
    routers: [blue-router]
    switches: [blue-web]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation
from ansible_collections.scloud.stack.plugins.module_utils._ovs.routing import LoadBalancer


def main():
    spec = OVSDB.argument_spec(
        name={"type": "str", "required": True},
        vip={"type": "str"},
        protocol={"type": "str", "choices": ["tcp", "udp"], "default": "tcp"},
        members={"type": "list", "elements": "str", "default": []},
        health_check={"type": "dict"},
        routers={"type": "list", "elements": "str", "default": []},
        switches={"type": "list", "elements": "str", "default": []},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(LoadBalancer))


if __name__ == "__main__":
    main()
