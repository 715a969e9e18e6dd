#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_crush_rule
short_description: Manage a Ceph CRUSH rule (where copies and chunks go)
version_added: 0.1.0
description:
  - Creates a replicated rule from a root, a failure domain (host, rack, datacenter...) and an
    optional device class (C(ssd), C(hdd)), or an erasure rule from an erasure-code profile.
  - Ceph cannot edit a rule. A rule that exists with other parameters is reported field by field;
    it is replaced only with O(replace=true) and only when no pool uses it.
extends_documentation_fragment:
  - scloud.stack.ceph
  - scloud.stack.attributes
options:
  name:
    description: Name of the rule.
    type: str
    required: true
  state:
    description: Whether the rule exists. A rule used by a pool is never removed.
    type: str
    choices: [present, absent]
    default: present
  rule_type:
    description: Replicated, or erasure (made from O(profile)).
    type: str
    choices: [replicated, erasure]
    default: replicated
  root:
    description: CRUSH bucket the rule starts from (replicated rules).
    type: str
    default: default
  failure_domain:
    description: CRUSH type over which copies are spread (C(osd), C(host), C(rack), C(datacenter)...).
    type: str
    default: host
  device_class:
    description: Only OSDs of this device class (C(ssd), C(hdd), C(nvme)).
    type: str
  profile:
    description:
      - Erasure-code profile an erasure rule is made from; root, failure domain and class come from it.
    type: str
  replace:
    description: Replace a rule that exists with other parameters, when no pool uses it.
    type: bool
    default: false
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: Three copies on three hosts, SSDs only
  scloud.stack.ceph_crush_rule:
    name: replicated-ssd
    failure_domain: host
    device_class: ssd

- name: Copies spread over racks
  scloud.stack.ceph_crush_rule:
    name: replicated-rack
    failure_domain: rack

- name: Rule of an erasure-coded pool
  scloud.stack.ceph_crush_rule:
    name: ec-4-2
    rule_type: erasure
    profile: ec-4-2
"""

RETURN = r"""
rule:
  description: The rule after the run (empty when absent).
  returned: always
  type: dict
  sample: {name: replicated-ssd, rule_id: 1, rule_type: replicated, root: default, failure_domain: host,
           device_class: ssd}
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
from ansible_collections.scloud.stack.plugins.module_utils._ceph import rule
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CEPH
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module


def main():
    module = AnsibleModule(
        argument_spec=CEPH.argument_spec(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            rule_type={"type": "str", "choices": ["replicated", "erasure"], "default": "replicated"},
            root={"type": "str", "default": "default"},
            failure_domain={"type": "str", "default": "host"},
            device_class={"type": "str"},
            profile={"type": "str"},
            replace={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    run_module(module, CEPH, Operation(rule.converge, validate=rule.validate_params))


if __name__ == "__main__":
    main()
