#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_sb_chassis
short_description: Remove a chassis record (a node taken out) from the OVN Southbound database
description:
  - Deletes the C(Chassis) row of O(name) (with its C(Encap) tunnel endpoints) and its
    C(Chassis_Private) row in one OVSDB transaction; the ports bound to it lose their binding.
    What C(ovn-sbctl chassis-del) does, with check mode and diff.
  - ovn-controller registers its own chassis, so only O(state=absent) exists; stop the node's
    ovn-controller first or it registers again (C(remove_node.yml) does both).
version_added: 0.2.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ovsdb
  - scloud.stack.ovsdb.ovn_sb
  - scloud.stack.attributes
options:
  name:
    description: Name of the chassis (the node's C(system-id)).
    type: str
    required: true
  state:
    description: Only V(absent).
    type: str
    choices: [absent]
    default: absent
"""

EXAMPLES = r"""
- name: Forget node4's chassis, through the Southbound RAFT cluster
  scloud.stack.ovn_sb_chassis:
    name: node4
    ovsdb_remote: tcp:10.0.0.11:6642,tcp:10.0.0.12:6642,tcp:10.0.0.13:6642
"""

RETURN = r"""
chassis:
  description: Empty once removed.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import OVSDB, ResourceOperation
from ansible_collections.scloud.stack.plugins.module_utils._ovs.southbound import SbChassis


def main():
    spec = OVSDB.argument_spec(
        name={"type": "str", "required": True},
        state={"type": "str", "choices": ["absent"], "default": "absent"},
    )
    module = AnsibleModule(
        argument_spec=spec, required_together=OVSDB.required_together, supports_check_mode=True
    )
    run_module(module, OVSDB, ResourceOperation(SbChassis))


if __name__ == "__main__":
    main()
