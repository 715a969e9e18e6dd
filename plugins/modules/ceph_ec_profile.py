#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_ec_profile
short_description: Manage a Ceph erasure-code profile
version_added: 0.1.0
description:
  - Creates, updates and removes an erasure-code profile. The profile is compared after the
    defaults Ceph fills in (plugin C(jerasure), technique C(reed_sol_van), root C(default),
    failure domain C(host)) are made explicit, so a second run changes nothing.
  - k+m must not exceed the failure domains available under the root (and device class).
  - A profile used by a pool cannot change or be removed; the module fails naming the pools.
extends_documentation_fragment:
  - scloud.stack.ceph
  - scloud.stack.attributes
options:
  name:
    description: Name of the profile.
    type: str
    required: true
  state:
    description: Whether the profile exists.
    type: str
    choices: [present, absent]
    default: present
  k:
    description: Data chunks (>= 2). Required when O(state=present).
    type: int
  m:
    description: Coding chunks (>= 1). Required when O(state=present).
    type: int
  plugin:
    description: Erasure-code plugin.
    type: str
    choices: [jerasure, isa, shec, clay, lrc]
    default: jerasure
  technique:
    description: Technique of the plugin; the plugin's default when omitted.
    type: str
  crush_root:
    description: CRUSH root the chunks are placed under.
    type: str
    default: default
  crush_failure_domain:
    description: CRUSH type over which chunks are spread.
    type: str
    default: host
  crush_device_class:
    description: Only OSDs of this device class.
    type: str
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: 2+1 over hosts on HDDs
  scloud.stack.ceph_ec_profile:
    name: ec-2-1
    k: 2
    m: 1
    crush_failure_domain: host
    crush_device_class: hdd
"""

RETURN = r"""
profile:
  description: The profile after the run, defaults made explicit (empty when absent).
  returned: always
  type: dict
  sample: {name: ec-2-1, k: 2, m: 1, plugin: jerasure, technique: reed_sol_van, crush_root: default,
           crush_failure_domain: host, crush_device_class: hdd}
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
from ansible_collections.scloud.stack.plugins.module_utils._ceph import ec_profile
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            k={"type": "int"},
            m={"type": "int"},
            plugin={"type": "str", "choices": list(ec_profile.PLUGINS), "default": "jerasure"},
            technique={"type": "str"},
            crush_root={"type": "str", "default": "default"},
            crush_failure_domain={"type": "str", "default": "host"},
            crush_device_class={"type": "str"},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(ec_profile.converge, validate=ec_profile.validate_params))


if __name__ == "__main__":
    main()
