#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_security_group
short_description: Manage a security group (an OVN port group and its ACLs)
description:
  - A security group is an OVN port group; each rule is one C(allow-related) ACL on it, so replies
    to allowed traffic pass. Every port that has a security group is also in the port group
    C(scloud_sg_drop), whose ACLs drop all other IP traffic (DHCP requests excepted).
  - O(rules) is the exact rule set (missing rules are added, extra ones removed, ACLs edited by
    hand are put back), all in one OVSDB transaction.
  - Ports join groups through M(scloud.stack.ovn_port).
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn
  - scloud.stack.attributes
options:
  name:
    description: Security group name.
    type: str
    required: true
  rules:
    description:
      - Allowed traffic. A rule is a dict with C(direction) (C(ingress) default, C(egress)),
        C(protocol) (C(any) default, C(tcp), C(udp), C(icmp)), C(port_range) (C(22) or C(8000-8100),
        tcp and udp only), C(ethertype) (C(IPv4) default, C(IPv6)), and at most one of
        C(remote_cidr) and C(remote_group) (another security group, or this one).
      - An empty list denies everything to and from the group's ports.
    type: list
    elements: dict
    default: []
  state:
    description: Whether the security group exists.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Web servers take HTTP(S) from anywhere, SSH from the bastions, ping from the VPC
  scloud.stack.ovn_security_group:
    name: web
    rules:
      - {protocol: tcp, port_range: 80}
      - {protocol: tcp, port_range: 443}
      - {protocol: tcp, port_range: 22, remote_group: bastion}
      - {protocol: icmp, remote_cidr: 10.10.0.0/16}
      - {direction: egress}
"""

RETURN = r"""
security_group:
  description: The group after the task (empty when absent).
  returned: always
  type: dict
  sample:
    name: web
    port_group: sg_web_1a2b3c4d
    rules:
      - {direction: ingress, ethertype: IPv4, protocol: tcp, port_range: "80", remote_cidr: null,
         remote_group: null}
    ports: [vm1-eth0]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.northbound import SecurityGroup
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation


def main():
    spec = OVSDB.argument_spec(
        name={"type": "str", "required": True},
        rules={"type": "list", "elements": "dict", "default": []},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(SecurityGroup))


if __name__ == "__main__":
    main()
