#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rbd_snapshot
short_description: Manage a snapshot of an RBD image (a volume snapshot)
version_added: 0.2.0
description:
  - Creates a snapshot of an RBD image, protects or unprotects it (a protected snapshot can be
    cloned), rolls the image back to it, removes it.
  - A rollback happens only when the image differs from the snapshot (librbd compares them with
    C(diff_iterate), from the object map when the image has C(fast-diff)), so a second run changes
    nothing; it is refused while a client has the image open (stop the VM first).
  - Removing a protected snapshot unprotects it first; a snapshot with clones is never removed.
  - Goes through librbd over one librados session.
extends_documentation_fragment:
  - scloud.stack.ceph
options:
  pool:
    description: Pool of the image.
    type: str
    required: true
  image:
    description: Name of the image.
    type: str
    required: true
  name:
    description: Name of the snapshot.
    type: str
    required: true
  state:
    description: Whether the snapshot exists.
    type: str
    choices: [present, absent]
    default: present
  protected:
    description: Whether the snapshot is protected (needed to clone it). Unset leaves it as it is.
    type: bool
  rollback:
    description:
      - Roll the image back to this snapshot when it differs from it. The image must not be in use.
    type: bool
    default: false
  namespace:
    description: RBD namespace of the image, if any.
    type: str
requirements:
  - python3-rados and python3-rbd (Debian packages)
attributes:
  check_mode:
    description: Reports exactly what a real run does (create, protect, rollback, remove).
    support: full
  diff_mode:
    description: Before and after of the snapshot (name, size, protection).
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: Snapshot a volume before an upgrade of its guest
  scloud.stack.rbd_snapshot:
    pool: volumes
    image: vm1-root
    name: before-upgrade

- name: Roll the (stopped) volume back to it
  scloud.stack.rbd_snapshot:
    pool: volumes
    image: vm1-root
    name: before-upgrade
    rollback: true

- name: Remove it
  scloud.stack.rbd_snapshot:
    pool: volumes
    image: vm1-root
    name: before-upgrade
    state: absent
"""

RETURN = r"""
snapshot:
  description: The snapshot after the run (empty when absent).
  returned: always
  type: dict
  sample: {name: before-upgrade, id: 4, size: 10737418240, protected: false,
           timestamp: "2026-12-07T23:20:01+00:00"}
snapshots:
  description: Names of the image's snapshots after the run, oldest first.
  returned: always
  type: list
  elements: str
actions:
  description:
    - What was (or, in check mode, would be) done, in order.
    - Each one of create, protect, unprotect, rollback, remove.
  returned: always
  type: list
  elements: str
mon_round_trips:
  description: Number of monitor commands this run used.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import rbd_snapshot
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            pool={"type": "str", "required": True},
            image={"type": "str", "required": True},
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            protected={"type": "bool"},
            rollback={"type": "bool", "default": False},
            namespace={"type": "str"},
        ),
        supports_check_mode=True,
    )
    operation = Operation(rbd_snapshot.converge, validate=rbd_snapshot.validate_params, need_rbd=True)
    run_module(module, CEPH, operation)


if __name__ == "__main__":
    main()
