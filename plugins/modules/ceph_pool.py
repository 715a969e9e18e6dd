#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_pool
short_description: Manage a Ceph pool (replicated or erasure-coded)
version_added: 0.1.0
description:
  - Creates, reconciles and deletes a Ceph pool through librados monitor commands.
  - Every mutable attribute is reconciled (size, min_size, PG counts, autoscale mode, target size
    ratio, CRUSH rule, applications, quotas). The pool type and the erasure-code profile cannot
    change; the module fails and says so.
  - A no-op run costs two monitor round trips.
extends_documentation_fragment:
  - scloud.stack.ceph
  - scloud.stack.attributes
options:
  name:
    description: Name of the pool.
    type: str
    required: true
  state:
    description: Whether the pool exists.
    type: str
    choices: [present, absent]
    default: present
  pool_type:
    description: Replicated or erasure-coded. Cannot change once the pool exists.
    type: str
    choices: [replicated, erasure]
    default: replicated
  size:
    description: Number of copies of a replicated pool (1 to 10). Not for erasure pools (k+m).
    type: int
  min_size:
    description: Copies (or chunks) needed to serve I/O. Must be <= O(size).
    type: int
  pg_num:
    description:
      - Number of placement groups (the target; Ceph reaches it gradually).
      - Leave it unset with O(pg_autoscale_mode=on), where the autoscaler owns it.
    type: int
  pgp_num:
    description: Number of placement groups for placement. Must be <= O(pg_num).
    type: int
  pg_autoscale_mode:
    description: PG autoscaler mode of the pool.
    type: str
    choices: ['on', 'off', warn]
  target_size_ratio:
    description: Expected share of the cluster's capacity, a hint for the autoscaler.
    type: float
  crush_rule:
    description: Name of the CRUSH rule; must exist and be of the pool's type.
    type: str
  erasure_profile:
    description:
      - Erasure-code profile of an erasure pool (default C(default)). Must exist; cannot change.
    type: str
  application:
    description: Applications enabled on the pool (e.g. C(rbd)); others are disabled.
    type: list
    elements: str
  quota_max_bytes:
    description: Byte quota (C(0) for none); bytes or a size such as C(100G).
    type: raw
  quota_max_objects:
    description: Object quota (C(0) for none).
    type: int
  allow_delete:
    description: Must be V(true) for O(state=absent) to delete an existing pool and its data.
    type: bool
    default: false
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: An RBD pool with three copies across hosts, on SSDs
  scloud.stack.ceph_pool:
    name: volumes-ssd
    size: 3
    min_size: 2
    pg_num: 64
    crush_rule: replicated-ssd
    application: [rbd]

- name: An erasure-coded pool
  scloud.stack.ceph_pool:
    name: archive
    pool_type: erasure
    erasure_profile: ec-4-2
    application: [rgw]

- name: Delete a pool
  scloud.stack.ceph_pool:
    name: old
    state: absent
    allow_delete: true
"""

RETURN = r"""
pool:
  description: The pool after the run (empty when absent).
  returned: always
  type: dict
  sample:
    name: volumes-ssd
    pool_id: 3
    pool_type: replicated
    size: 3
    min_size: 2
    pg_num: 64
    pgp_num: 64
    pg_autoscale_mode: 'off'
    target_size_ratio: 0.0
    crush_rule: replicated-ssd
    erasure_profile: null
    application: [rbd]
    quota_max_bytes: 0
    quota_max_objects: 0
commands:
  description: The monitor commands sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: dict
mon_round_trips:
  description: Number of monitor commands this run used, reads included.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import pool
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            pool_type={"type": "str", "choices": ["replicated", "erasure"], "default": "replicated"},
            size={"type": "int"},
            min_size={"type": "int"},
            pg_num={"type": "int"},
            pgp_num={"type": "int"},
            pg_autoscale_mode={"type": "str", "choices": ["on", "off", "warn"]},
            target_size_ratio={"type": "float"},
            crush_rule={"type": "str"},
            erasure_profile={"type": "str"},
            application={"type": "list", "elements": "str"},
            quota_max_bytes={"type": "raw"},
            quota_max_objects={"type": "int"},
            allow_delete={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(pool.converge, validate=pool.validate_params))


if __name__ == "__main__":
    main()
