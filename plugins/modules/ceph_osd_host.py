#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_osd_host
short_description: The OSDs of one node as a whole, marked in or out, or purged with the node's CRUSH bucket
description:
  - Reads the node's CRUSH host bucket and its OSDs (up, in) in one session, then, unless nothing
    differs, sends the monitor commands that bring them to O(state). Check mode lists the same
    commands without sending them.
  - V(out) drains the node (its data is copied to the other nodes; wait for every PG
    C(active+clean) before going further), V(in) takes it back. V(out) of a node that has no CRUSH
    host bucket (purged already) changes nothing; V(in) of it fails.
  - V(absent) purges every OSD of the node (CRUSH entry, key and id), removes its CRUSH host bucket
    and its C(osd/host:<name>) settings. It is refused while an OSD of the node is still up, naming
    it, before anything changes; the OSD daemons are stopped by the playbook (C(remove_node.yml)).
version_added: 0.2.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.ceph
  - scloud.stack.attributes
options:
  name:
    description: The node's CRUSH host bucket (its short host name).
    type: str
    required: true
  state:
    description: What the node's OSDs become.
    type: str
    choices: [in, out, absent]
    required: true
"""

EXAMPLES = r"""
- name: Drain node4 (its data moves to the other nodes)
  scloud.stack.ceph_osd_host:
    name: node4
    state: out
  register: drained

- name: Purge node4's OSDs, its CRUSH bucket and its settings (once its daemons are stopped)
  scloud.stack.ceph_osd_host:
    name: node4
    state: absent
"""

RETURN = r"""
host:
  description: The node in the cluster maps after the task.
  returned: always
  type: dict
  sample: {name: node4, bucket: true, osds: [{id: 6, up: true, in: false}], settings: [crush_location]}
commands:
  description: The monitor commands sent (in check mode, that would be sent).
  returned: always
  type: list
  elements: dict
  sample: [{prefix: osd out, ids: ["6", "7"]}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import osd_host
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["in", "out", "absent"], "required": True},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(osd_host.converge, validate=osd_host.validate_params))


if __name__ == "__main__":
    main()
