#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_domain
short_description: A virtual machine as a typed spec, with live hot-plug of disks and NICs
version_added: 0.1.0
description:
  - Defines, starts, changes and removes a libvirt/QEMU domain from a typed spec (no raw XML).
  - Only the fields of the spec are compared with libvirt's definition; what libvirt fills in
    (PCI addresses, controllers, aliases) is kept as it is.
  - On a running domain, disks and NICs are attached and detached live and persisted, vCPUs and
    memory are raised live up to O(max_vcpus) and O(max_memory), and a disk whose RBD image has grown
    is resized live. Other changes are persisted and reported with RV(restart_required); the domain is
    restarted only with O(allow_restart=true).
  - The UUID of a new domain is derived from its name; a NIC without O(nics[].mac) gets a MAC derived
    from the domain and the NIC, so re-runs never change UUID or MACs.
extends_documentation_fragment:
  - scloud.stack.libvirt
options:
  name:
    description: Name of the domain.
    type: str
    required: true
  state:
    description:
      - V(absent) destroys and undefines the domain; its disks are kept unless O(delete_disks=true).
    type: str
    choices: [running, shutoff, paused, absent]
    default: running
  vcpus:
    description: vCPUs online. Raised live on a running domain up to O(max_vcpus).
    type: int
    default: 1
  max_vcpus:
    description: vCPUs the domain can reach without a restart. Defaults to O(vcpus).
    type: int
  memory:
    description: Memory of the guest (V(512M), V(2G)); at least 1 MiB and at most the host's memory.
    type: str
    default: 512M
  max_memory:
    description: Memory the domain can grow to without a restart. Defaults to O(memory).
    type: str
  virt_type:
    description: V(kvm), V(qemu) (TCG emulation) or V(auto) (KVM when the host offers it).
    type: str
    choices: [auto, kvm, qemu]
    default: auto
  machine:
    description: QEMU machine type (V(pc), V(q35) or a versioned name). Not managed when omitted.
    type: str
  cpu_mode:
    description: Guest CPU mode. Not managed when omitted.
    type: str
    choices: [host-passthrough, host-model, maximum]
  boot:
    description: Boot from devices in O(boot.dev) order, or directly from a kernel.
    type: dict
    suboptions:
      dev:
        description: Boot devices in order.
        type: list
        elements: str
        choices: [hd, network, cdrom]
        default: [hd]
      kernel:
        description: Absolute path of a kernel on the host for direct boot.
        type: str
      initrd:
        description: Absolute path of an initrd for direct boot.
        type: str
      cmdline:
        description: Kernel command line for direct boot.
        type: str
  disks:
    description: Disks, identified by O(disks[].target). Exactly one of O(disks[].rbd) or O(disks[].path).
    type: list
    elements: dict
    default: []
    suboptions:
      target:
        description: Device name in the guest (V(vda), V(vdb), V(sda)).
        type: str
        required: true
      rbd:
        description: An RBD image, reached by QEMU through librbd.
        type: dict
        suboptions:
          pool:
            description: Ceph pool.
            type: str
            required: true
          image:
            description: RBD image; it must exist.
            type: str
            required: true
          user:
            description: Ceph user without C(client.), with O(disks[].rbd.secret_uuid); V(admin) if unset.
            type: str
          secret_uuid:
            description:
              - UUID of the libvirt secret with the key (M(scloud.stack.libvirt_secret)).
              - Default with O(disks[].rbd.user), the secret M(scloud.stack.libvirt_secret) creates for
                usage name C(client.USER secret) (its UUID derived from that name), as the
                C(libvirt) role does.
            type: str
          hosts:
            description: Monitor addresses C(host[:port]); else taken from O(disks[].rbd.config).
            type: list
            elements: str
          config:
            description: Path of a ceph.conf on the host (default C(/etc/ceph/ceph.conf)).
            type: path
      path:
        description: A file or block device on the host.
        type: path
      format:
        description: Image format of O(disks[].path).
        type: str
        choices: [raw, qcow2]
        default: raw
      bus:
        description: Disk bus; V(virtio) for C(vd*) targets by default.
        type: str
        choices: [virtio, scsi, sata, ide, usb]
      readonly:
        description: Read-only disk.
        type: bool
        default: false
      cache:
        description: QEMU cache mode.
        type: str
        choices: [default, none, writeback, writethrough, directsync, unsafe]
        default: default
  nics:
    description: NICs, identified by their MAC. One of O(nics[].bridge) or O(nics[].ovn_port).
    type: list
    elements: dict
    default: []
    suboptions:
      mac:
        description: MAC address; derived from the domain and the NIC when omitted.
        type: str
      bridge:
        description: An Open vSwitch or Linux bridge that exists. V(br-int) with O(nics[].ovn_port).
        type: str
      vlan:
        description: Access VLAN tag on an Open vSwitch bridge.
        type: int
      ovn_port:
        description: OVN logical switch port bound to this NIC (the OVS interface id ovn-controller binds).
        type: str
      model:
        description: NIC model.
        type: str
        choices: [virtio, e1000, e1000e, rtl8139]
        default: virtio
  autostart:
    description: Start the domain with the host. Not managed when omitted.
    type: bool
  allow_restart:
    description: Restart a running domain to apply changes that cannot be applied live.
    type: bool
    default: false
  shutdown_timeout:
    description: Seconds to wait for an ACPI shutdown before the domain is powered off; V(0) powers off.
    type: int
    default: 60
  delete_disks:
    description: With O(state=absent), also delete the domain's file and RBD disks.
    type: bool
    default: false
attributes:
  check_mode:
    description: Returns exactly the RV(actions) a real run performs.
    support: full
  diff_mode:
    description: Before and after of the domain, in spec terms.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
notes:
  - Hot-unplug needs a guest that answers ACPI hot-plug events; the module waits for it up to 30 s.
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: A VM with its disk on Ceph RBD and a NIC bound to an OVN port
  scloud.stack.libvirt_domain:
    name: web1
    vcpus: 2
    max_vcpus: 8
    memory: 2G
    max_memory: 8G
    disks:
      - target: vda
        rbd: {pool: vms, image: web1-root, user: libvirt, secret_uuid: "{{ ceph_secret_uuid }}"}
        cache: none
    nics:
      - ovn_port: web1-eth0

- name: Hot-plug a second disk and raise vCPUs, live
  scloud.stack.libvirt_domain:
    name: web1
    vcpus: 4
    max_vcpus: 8
    memory: 2G
    max_memory: 8G
    disks:
      - target: vda
        rbd: {pool: vms, image: web1-root, user: libvirt, secret_uuid: "{{ ceph_secret_uuid }}"}
        cache: none
      - target: vdb
        rbd: {pool: vms, image: web1-data, user: libvirt, secret_uuid: "{{ ceph_secret_uuid }}"}
    nics:
      - ovn_port: web1-eth0

- name: Remove the VM, keep its disks
  scloud.stack.libvirt_domain:
    name: web1
    state: absent
"""

RETURN = r"""
domain:
  description: The domain in spec terms after the task (predicted in check mode), with state, autostart, UUID.
  returned: always
  type: dict
actions:
  description: What the task did (or would do in check mode), in order, e.g. C(attach disk vdb).
  returned: always
  type: list
  elements: str
restart_required:
  description: The running domain differs from its definition in fields only a restart applies.
  returned: always
  type: bool
restart_pending:
  description: Those fields.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import run_module
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import LIBVIRT
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.domain import DomainOperation

_RBD = {
    "pool": {"type": "str", "required": True},
    "image": {"type": "str", "required": True},
    "user": {"type": "str"},
    "secret_uuid": {"type": "str", "no_log": False},  # a reference to the secret, not the key
    "hosts": {"type": "list", "elements": "str"},
    "config": {"type": "path"},
}
_DISK = {
    "target": {"type": "str", "required": True},
    "rbd": {"type": "dict", "options": _RBD},
    "path": {"type": "path"},
    "format": {"type": "str", "choices": ["raw", "qcow2"], "default": "raw"},
    "bus": {"type": "str", "choices": ["virtio", "scsi", "sata", "ide", "usb"]},
    "readonly": {"type": "bool", "default": False},
    "cache": {
        "type": "str",
        "default": "default",
        "choices": ["default", "none", "writeback", "writethrough", "directsync", "unsafe"],
    },
}
_NIC = {
    "mac": {"type": "str"},
    "bridge": {"type": "str"},
    "vlan": {"type": "int"},
    "ovn_port": {"type": "str"},
    "model": {"type": "str", "default": "virtio", "choices": ["virtio", "e1000", "e1000e", "rtl8139"]},
}
_BOOT = {
    "dev": {"type": "list", "elements": "str", "choices": ["hd", "network", "cdrom"], "default": ["hd"]},
    "kernel": {"type": "str"},
    "initrd": {"type": "str"},
    "cmdline": {"type": "str"},
}


def main():
    module = AnsibleModule(
        argument_spec=LIBVIRT.argument_spec(
            name={"type": "str", "required": True},
            state={
                "type": "str",
                "default": "running",
                "choices": ["running", "shutoff", "paused", "absent"],
            },
            vcpus={"type": "int", "default": 1},
            max_vcpus={"type": "int"},
            memory={"type": "str", "default": "512M"},
            max_memory={"type": "str"},
            virt_type={"type": "str", "default": "auto", "choices": ["auto", "kvm", "qemu"]},
            machine={"type": "str"},
            cpu_mode={"type": "str", "choices": ["host-passthrough", "host-model", "maximum"]},
            boot={"type": "dict", "options": _BOOT},
            disks={"type": "list", "elements": "dict", "options": _DISK, "default": []},
            nics={"type": "list", "elements": "dict", "options": _NIC, "default": []},
            autostart={"type": "bool"},
            allow_restart={"type": "bool", "default": False},
            shutdown_timeout={"type": "int", "default": 60},
            delete_disks={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    run_module(module, LIBVIRT, DomainOperation())


if __name__ == "__main__":
    main()
