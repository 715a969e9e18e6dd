#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_bridge
short_description: Manage an Open vSwitch bridge through OVSDB
description:
  - Creates, updates or removes a bridge in the Open vSwitch database in one transaction, then
    waits for C(ovs-vswitchd) to apply it.
  - O(external_ids) and O(other_config) are merged into the bridge's maps (keys set to C(null) are
    removed), since other daemons (C(ovn-controller)) write their own keys there.
version_added: 0.1.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovs
  - scloud.stack.attributes
options:
  name:
    description: Bridge name (1 to 15 characters, it is also a Linux interface name).
    type: str
    required: true
  state:
    description: Whether the bridge exists.
    type: str
    choices: [present, absent]
    default: present
  datapath_type:
    description:
      - C(system) uses the kernel datapath (production); C(netdev) the userspace datapath (lab
        nodes without the openvswitch kernel module). Unset leaves the bridge's value (new bridges
        get the Open vSwitch default, the kernel datapath).
    type: str
    choices: [system, netdev]
  fail_mode:
    description: What the bridge does without a controller.
    type: str
    choices: [standalone, secure]
  protocols:
    description: OpenFlow versions the bridge speaks (the exact set).
    type: list
    elements: str
  external_ids:
    description: Keys merged into the bridge's C(external_ids); a C(null) value removes the key.
    type: dict
  other_config:
    description: Keys merged into the bridge's C(other_config); a C(null) value removes the key.
    type: dict
"""

EXAMPLES = r"""
- name: The integration bridge of a lab node (userspace datapath)
  scloud.stack.ovs_bridge:
    name: br-int
    datapath_type: netdev
    fail_mode: secure
    protocols: [OpenFlow13, OpenFlow15]

- name: A provider bridge for the external network
  scloud.stack.ovs_bridge:
    name: br-ex
    external_ids:
      scloud-role: provider

- name: Remove a bridge and its ports
  scloud.stack.ovs_bridge:
    name: br-old
    state: absent
"""

RETURN = r"""
bridge:
  description: The bridge after the task (empty when absent).
  returned: always
  type: dict
  sample:
    name: br-int
    datapath_type: netdev
    fail_mode: secure
    protocols: [OpenFlow13]
    external_ids: {}
    other_config: {}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation
from ansible_collections.scloud.stack.plugins.module_utils._ovs.vswitch import Bridge


def main():
    spec = OVSDB.argument_spec(
        name={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        datapath_type={"type": "str", "choices": ["system", "netdev"]},
        fail_mode={"type": "str", "choices": ["standalone", "secure"]},
        protocols={"type": "list", "elements": "str"},
        external_ids={"type": "dict"},
        other_config={"type": "dict"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(Bridge))


if __name__ == "__main__":
    main()
