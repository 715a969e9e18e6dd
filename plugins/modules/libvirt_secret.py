#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_secret
short_description: A Ceph key stored as a libvirt secret, for RBD disks
version_added: 0.1.0
description:
  - Defines a libvirt secret of usage type C(ceph) and sets its value, the base64 key printed by
    C(ceph auth get-key). Domains reference it with C(disks[].rbd.secret_uuid) of
    M(scloud.stack.libvirt_domain).
  - The secret is found by O(uuid) when given, else by O(usage_name). A new secret without O(uuid) gets
    a UUID derived from O(usage_name), stable across runs and hosts (the same on every compute node).
extends_documentation_fragment:
  - scloud.stack.libvirt
options:
  usage_type:
    description: Usage type of the secret.
    type: str
    choices: [ceph]
    default: ceph
  usage_name:
    description: Usage name, unique per usage type (for example V(client.libvirt secret)).
    type: str
    required: true
  uuid:
    description: UUID of the secret.
    type: str
  value:
    description: The Ceph key, base64 as C(ceph auth get-key) prints it. Required with O(state=present).
    type: str
  description:
    description: Free text shown by C(virsh secret-list).
    type: str
  state:
    description: Whether the secret exists.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns exactly the RV(actions) a real run performs.
    support: full
  diff_mode:
    description: Before and after of the secret; the value is never shown, only whether it changes.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: The key QEMU uses to open RBD disks
  scloud.stack.libvirt_secret:
    usage_name: client.libvirt secret
    uuid: 5a1c0e6e-9d7b-4a8f-8f39-3c2f5c1a1f00
    value: "{{ ceph_libvirt_key }}"
"""

RETURN = r"""
secret:
  description: The secret (without its value).
  returned: always
  type: dict
  sample: {uuid: 5a1c0e6e-9d7b-4a8f-8f39-3c2f5c1a1f00, usage_type: ceph, usage_name: client.libvirt secret}
actions:
  description: What the task did or would do (C(define), C(redefine), C(set value), C(undefine)).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import LIBVIRT
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.secret import SecretOperation


def main():
    module = AnsibleModule(
        argument_spec=LIBVIRT.argument_spec(
            usage_type={"type": "str", "choices": ["ceph"], "default": "ceph"},
            usage_name={"type": "str", "required": True},
            uuid={"type": "str"},
            value={"type": "str", "no_log": True},
            description={"type": "str"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        ),
        supports_check_mode=True,
    )
    run_module(module, LIBVIRT, SecretOperation())


if __name__ == "__main__":
    main()
