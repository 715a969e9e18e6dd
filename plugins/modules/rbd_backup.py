#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rbd_backup
short_description: Back up a snapshot of an RBD image into another pool, incrementally
version_added: 0.2.0
description:
  - Makes the backup image O(backup_pool)/O(backup_image) hold the source's snapshot O(snapshot).
    The first backup copies the allocated extents, each later one only what changed since the
    newest snapshot both sides hold (what C(rbd export-diff | rbd import-diff) moves), then takes
    the snapshot on the backup. A snapshot already backed up changes nothing.
  - The backup pool should be on another CRUSH rule (another failure domain) than the source's.
  - O(keep) bounds the backup's snapshots. The oldest are removed, the newest always stays (it is
    the base of the next increment).
  - Check mode reads the extents that would move and reports their size, without copying.
  - Goes through librbd over one librados session, with no C(rbd) subprocess and no pipe.
extends_documentation_fragment:
  - scloud.stack.ceph
options:
  pool:
    description: Pool of the source image.
    type: str
    required: true
  image:
    description: The source image.
    type: str
    required: true
  snapshot:
    description:
      - The source's snapshot to back up (make it with M(scloud.stack.rbd_snapshot)).
      - Required when O(state=present).
    type: str
  backup_pool:
    description: Pool of the backup.
    type: str
    required: true
  backup_image:
    description: Name of the backup image; default C(<pool>.<image>).
    type: str
  state:
    description:
      - Whether the backup exists (holding O(snapshot)).
      - V(absent) removes the backup image and its snapshots.
    type: str
    choices: [present, absent]
    default: present
  keep:
    description: How many snapshots the backup keeps at most (the oldest go first). Unset keeps them all.
    type: int
  verify:
    description:
      - After copying, compare the SHA-256 of the backup's snapshot and the source's (reads both in full).
    type: bool
    default: false
  allow_same_pool:
    description:
      - Accept a backup pool that is the source's pool (the same failure domain, no protection
        against losing it).
    type: bool
    default: false
requirements:
  - python3-rados and python3-rbd (Debian packages)
attributes:
  check_mode:
    description: Reports the extents and bytes a real run would copy, copying nothing.
    support: full
  diff_mode:
    description: Before and after of the backup's snapshots.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: Snapshot the volume
  scloud.stack.rbd_snapshot:
    pool: volumes
    image: db1-data
    name: nightly-2026-12-07

- name: Back it up into the backup pool (on the rack-spread rule), keeping 14 nightly backups
  scloud.stack.rbd_backup:
    pool: volumes
    image: db1-data
    snapshot: nightly-2026-12-07
    backup_pool: backups
    keep: 14
"""

RETURN = r"""
backup:
  description: The backup after the run (empty when absent).
  returned: always
  type: dict
  sample: {image: backups/volumes.db1-data, snapshots: [nightly-2026-12-06, nightly-2026-12-07],
           base: nightly-2026-12-06, mode: incremental, bytes_moved: 41943040, extents: 12,
           size: 10737418240, removed_snapshots: []}
mon_round_trips:
  description: Number of monitor commands this run used.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import rbd_backup
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            pool={"type": "str", "required": True},
            image={"type": "str", "required": True},
            snapshot={"type": "str"},
            backup_pool={"type": "str", "required": True},
            backup_image={"type": "str"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            keep={"type": "int"},
            verify={"type": "bool", "default": False},
            allow_same_pool={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    operation = Operation(rbd_backup.converge_backup, validate=rbd_backup.validate_backup, need_rbd=True)
    run_module(module, CEPH, operation)


if __name__ == "__main__":
    main()
