#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_domain_info
short_description: Domains with state, vCPUs, memory, disks and NICs, and the host's capacity
version_added: 0.1.0
description:
  - Reads every domain (or one, O(name)) of a libvirt host through one connection, in the same terms as
    the options of M(scloud.stack.libvirt_domain), and the host's CPUs, memory and free memory for
    scheduling.
extends_documentation_fragment:
  - scloud.stack.libvirt
options:
  name:
    description: Only this domain (an empty list when it does not exist).
    type: str
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    description: Read-only, no diff.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: What runs on this hypervisor, and how much room is left
  scloud.stack.libvirt_domain_info:
  register: compute

- name: Show free memory
  ansible.builtin.debug:
    msg: "{{ compute.host.free_memory }} free, {{ compute.domains | length }} domains"
"""

RETURN = r"""
domains:
  description: Domains sorted by name, live values for running ones.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: web1, state: running, vcpus: 2, max_vcpus: 8, memory: 2G, max_memory: 8G,
       disks: [{target: vda, bus: virtio, rbd: {pool: vms, image: web1-root}}],
       nics: [{mac: "52:54:00:12:34:56", bridge: br-int, interfaceid: web1-eth0}]}
host:
  description: Capacity of the host.
  returned: always
  type: dict
  sample: {hostname: node1, cpus: 32, memory: 128G, memory_bytes: 137438953472, free_memory: 97G,
           running_domains: 12, allocated_vcpus: 40}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module
from ansible_collections.scloud.stack.plugins.module_utils._libvirt import info
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import LIBVIRT


def main():
    module = AnsibleModule(
        argument_spec=LIBVIRT.argument_spec(name={"type": "str"}),
        supports_check_mode=True,
    )
    run_module(module, LIBVIRT, Operation(info.converge))


if __name__ == "__main__":
    main()
