#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_info
short_description: Facts of a Ceph cluster - health, monitors, OSDs, pools with usage
version_added: 0.1.0
description:
  - Reads the cluster's status, capacity, pools and CRUSH rules in four monitor commands over one
    librados session. Changes nothing.
extends_documentation_fragment:
  - scloud.stack.ceph
options: {}
attributes:
  check_mode:
    description: Runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
  idempotent:
    description: Read only.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: Read the cluster
  scloud.stack.ceph_info:
  register: ceph

- name: Fail unless healthy
  ansible.builtin.assert:
    that: ceph.health.status == 'HEALTH_OK'
"""

RETURN = r"""
fsid:
  description: Cluster id.
  returned: always
  type: str
health:
  description: Overall status and the message of every active health check.
  returned: always
  type: dict
  sample: {status: HEALTH_OK, checks: {}}
mons:
  description: Monitors in quorum and in total.
  returned: always
  type: dict
  sample: {quorum: [a, b, c], total: 3}
osds:
  description: OSD counts.
  returned: always
  type: dict
  sample: {total: 3, up: 3, in: 3}
capacity:
  description: Raw capacity of the cluster in bytes.
  returned: always
  type: dict
pools:
  description: Every pool (same fields as ceph_pool's RV(scloud.stack.ceph_pool#module:pool)) with C(usage).
  returned: always
  type: list
  elements: dict
rules:
  description: Every CRUSH rule (root, failure domain, device class).
  returned: always
  type: list
  elements: dict
mon_round_trips:
  description: Number of monitor commands this run used.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import info
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(argument_spec=CEPH.argument_spec(), supports_check_mode=True)
    run_module(module, CEPH, Operation(info.converge))


if __name__ == "__main__":
    main()
