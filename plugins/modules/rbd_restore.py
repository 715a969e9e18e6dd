#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rbd_restore
short_description: Restore an RBD image from a backup's snapshot
version_added: 0.2.0
description:
  - Writes the snapshot O(snapshot) of the backup O(backup_pool)/O(backup_image) (made by
    M(scloud.stack.rbd_backup)) into O(pool)/O(image), then takes O(snapshot) there too.
  - Into a new image, or over an existing one with O(overwrite=true) (never while a client has it
    open, so stop the VM first). An image that still holds O(snapshot) is rolled back to it (no data
    moves).
  - An image that already equals the snapshot changes nothing (a second run reports no change).
  - Check mode reports what would move, without writing.
extends_documentation_fragment:
  - scloud.stack.ceph
options:
  pool:
    description: Pool of the image to restore into.
    type: str
    required: true
  image:
    description: The image to restore into (created when missing).
    type: str
    required: true
  backup_pool:
    description: Pool of the backup.
    type: str
    required: true
  backup_image:
    description: The backup image.
    type: str
    required: true
  snapshot:
    description: The backup's snapshot to restore.
    type: str
    required: true
  overwrite:
    description: Replace the content of an existing image that differs from the snapshot.
    type: bool
    default: false
  verify:
    description:
      - After writing, compare the SHA-256 of the image with the backup's snapshot (reads both in full).
    type: bool
    default: false
requirements:
  - python3-rados and python3-rbd (Debian packages)
attributes:
  check_mode:
    description: Reports how a real run would restore (copy or rollback) and the bytes it would move.
    support: full
  diff_mode:
    description: Whether the image exists before, and where it was restored from after.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: Restore last night's backup into a new volume
  scloud.stack.rbd_restore:
    backup_pool: backups
    backup_image: volumes.db1-data
    snapshot: nightly-2026-12-07
    pool: volumes
    image: db1-data-restored
    verify: true
"""

RETURN = r"""
restore:
  description: What the run did (or would do).
  returned: always
  type: dict
  sample: {image: volumes/db1-data-restored, source: backups/volumes.db1-data@nightly-2026-12-07,
           mode: copy, bytes_moved: 2147483648, extents: 512, size: 10737418240}
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
            backup_pool={"type": "str", "required": True},
            backup_image={"type": "str", "required": True},
            snapshot={"type": "str", "required": True},
            overwrite={"type": "bool", "default": False},
            verify={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    operation = Operation(rbd_backup.converge_restore, validate=rbd_backup.validate_restore, need_rbd=True)
    run_module(module, CEPH, operation)


if __name__ == "__main__":
    main()
