#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_mon_member
short_description: One monitor's place in the Ceph monitor map, kept or removed
description:
  - Reads the monitor map and the quorum in one librados session; with O(state=absent), removes the
    monitor from the map (C(mon remove)). Check mode reports the same change without sending it.
  - Remove monitors one at a time and while they still run, so the monitors that stay keep a quorum
    (3 -> 2 -> 1), then stop their daemons (what C(remove_node.yml) does). The last monitor of the
    cluster is never removed.
  - V(present) only checks that the monitor is in the map; a monitor joins when the C(ceph_mon) role
    starts it.
version_added: 0.2.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ceph
  - scloud.stack.attributes
options:
  name:
    description: The monitor's name (its node's short host name in this collection).
    type: str
    required: true
  state:
    description: Whether the monitor stays in the map.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Take node3's monitor out of the map (the others keep a quorum)
  scloud.stack.ceph_mon_member:
    name: node3
    state: absent
"""

RETURN = r"""
monitor:
  description: The monitor and the map after the task.
  returned: always
  type: dict
  sample: {name: node3, in_map: false, in_quorum: false, monitors: [node1, node2], quorum: [node1, node2]}
commands:
  description: The monitor commands sent (in check mode, that would be sent).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import mon_member
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(mon_member.converge, validate=mon_member.validate_params))


if __name__ == "__main__":
    main()
