# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt connection option shared by every libvirt module (LIBVIRT_CONNECTION_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt connection URI. The module opens exactly one connection to it per task.
      - C(qemu:///system) is the local system daemon; a remote hypervisor is reached with a URI such as
        C(qemu+ssh://root@node1/system).
    type: str
    default: qemu:///system
attributes:
  action_group:
    description:
      - Use C(group/scloud.stack.libvirt) in C(module_defaults) to set O(uri) of every libvirt
        module once.
    support: full
    membership:
      - scloud.stack.libvirt
requirements:
  - libvirt-python on the target (Debian package C(python3-libvirt)).
"""
