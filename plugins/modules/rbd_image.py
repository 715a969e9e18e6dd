#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rbd_image
short_description: Manage an RBD image (an EVS disk)
version_added: 0.1.0
description:
  - Creates an RBD image, grows it in place, shrinks it only with O(allow_shrink=true), switches
    its mutable features, removes it (never while a client watches it).
  - Goes through librbd over one librados session.
extends_documentation_fragment:
  - scloud.stack.ceph
options:
  pool:
    description: Pool of the image.
    type: str
    required: true
  name:
    description: Name of the image.
    type: str
    required: true
  state:
    description: Whether the image exists.
    type: str
    choices: [present, absent]
    default: present
  size:
    description: Size in bytes or with a binary suffix (C(10G), C(512M)). Required when O(state=present).
    type: raw
  purge_snapshots:
    description:
      - With O(state=absent), remove the image's snapshots with it (a snapshot with clones is never
        removed). Without it, an image with snapshots is not removed.
    type: bool
    default: false
  features:
    description:
      - Features of the image (C(layering), C(exclusive-lock), C(object-map), C(fast-diff),
        C(deep-flatten), C(journaling)). Default for a new image is Ceph's default set.
      - On an existing image only C(exclusive-lock), C(object-map), C(fast-diff), C(journaling) can
        change, and C(deep-flatten) can be disabled.
    type: list
    elements: str
  allow_shrink:
    description: Allow O(size) below the current size (the end of the disk is lost).
    type: bool
    default: false
requirements:
  - The Python binding C(rbd) (Debian package C(python3-rbd)) on the target.
attributes:
  check_mode:
    description: Reports exactly what a real run changes.
    support: full
  diff_mode:
    description: Before and after of size and features.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: A 20 GiB disk
  scloud.stack.rbd_image:
    pool: volumes-ssd
    name: vm1-data
    size: 20G

- name: Grow it (in place, online)
  scloud.stack.rbd_image:
    pool: volumes-ssd
    name: vm1-data
    size: 40G
"""

RETURN = r"""
image:
  description: The image after the run (empty when absent).
  returned: always
  type: dict
  sample: {pool: volumes-ssd, name: vm1-data, id: 10a2b3c4d5, size: 21474836480,
           features: [deep-flatten, exclusive-lock, fast-diff, layering, object-map],
           block_name_prefix: rbd_data.10a2b3c4d5, watchers: []}
snapshots_removed:
  description: The snapshots removed with the image (O(purge_snapshots=true)).
  returned: when the image was removed
  type: list
  elements: str
mon_round_trips:
  description: Number of monitor commands this run used.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import rbd_image
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            pool={"type": "str", "required": True},
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            size={"type": "raw"},
            features={"type": "list", "elements": "str"},
            allow_shrink={"type": "bool", "default": False},
            purge_snapshots={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(rbd_image.converge, validate=rbd_image.validate_params, need_rbd=True))


if __name__ == "__main__":
    main()
