#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_auth
short_description: Manage a Ceph key (auth entity) and its caps
version_added: 0.1.0
description:
  - Creates a key, sets its caps exactly as given (caps not listed are removed), removes it.
  - Optionally writes a keyring file with mode C(0600).
  - The key is returned in RV(key); run the task with C(no_log=true) when its result is logged.
    The key never appears in the diff or in RV(commands).
extends_documentation_fragment:
  - scloud.stack.ceph
options:
  name:
    description: Entity name, C(TYPE.ID), e.g. C(client.cinder).
    type: str
    required: true
  state:
    description: Whether the key exists.
    type: str
    choices: [present, absent]
    default: present
  caps:
    description:
      - Caps per service (C(mon), C(osd), C(mgr), C(mds)). When given, they replace all caps of the key.
      - When omitted, the caps of an existing key are left as they are.
    type: dict
  dest:
    description:
      - Keyring file to write (mode C(0600)) with the key and its caps. Removed with O(state=absent).
    type: path
attributes:
  check_mode:
    description: Reports exactly what a real run changes.
    support: full
  diff_mode:
    description: Before and after of the caps (never the key).
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: A key for the compute nodes' RBD disks
  scloud.stack.ceph_auth:
    name: client.compute
    caps:
      mon: profile rbd
      osd: profile rbd pool=volumes-ssd, profile rbd pool=volumes-hdd
    dest: /etc/ceph/ceph.client.compute.keyring
  no_log: true
"""

RETURN = r"""
entity:
  description: The entity after the run (name and caps; empty when absent).
  returned: always
  type: dict
  sample: {name: client.compute, caps: {mon: profile rbd, osd: profile rbd pool=volumes-ssd}}
key:
  description: The secret key (null in check mode before the key exists).
  returned: when state is present
  type: str
commands:
  description: The monitor commands sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: dict
mon_round_trips:
  description: Number of monitor commands this run used.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._ceph import auth
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            caps={"type": "dict"},
            dest={"type": "path"},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(auth.converge, validate=auth.validate_params))


if __name__ == "__main__":
    main()
