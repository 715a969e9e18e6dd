"""Shared setup of the libvirt module tests: the tiny guest, an OVS bridge, an RBD pool and key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import run_module
from tests.integration.libvirt.guest import build_guest

BRIDGE = "scloudt-br1"
POOL = "scloudt-vms"
SECRET_USAGE = "client.admin scloudt-secret"
# The tiny guest runs under TCG: on this nested-KVM host /dev/kvm works (SeaBIOS runs under KVM) but
# a Linux kernel stalls in its decompressor, and hot-unplug needs a booted kernel. See docs/compute.md.
GUEST_VIRT_TYPE = "qemu"


@dataclass
class Rbd:
    pool: str
    hosts: list
    secret_uuid: str
    user: str = "admin"

    def disk(self, target, image, **extra):
        return {
            "target": target,
            "rbd": {
                "pool": self.pool,
                "image": image,
                "user": self.user,
                "secret_uuid": self.secret_uuid,
                "hosts": self.hosts,
            },
            **extra,
        }


@pytest.fixture(scope="session")
def guest():
    return build_guest()


@pytest.fixture(scope="session")
def ovs_bridge(ovs):
    ovs.vsctl("--may-exist", "add-br", BRIDGE, "--", "set", "Bridge", BRIDGE, "datapath_type=netdev")
    yield BRIDGE
    ovs.vsctl("--if-exists", "del-br", BRIDGE)


@pytest.fixture(scope="session")
def rbd_env(ceph_cluster, libvirt_host):
    """An RBD pool and the admin key as a libvirt secret (through the libvirt_secret module)."""
    ceph_cluster.create_pool(POOL)
    key = ceph_cluster.ceph_text("auth", "get-key", "client.admin").strip()
    res = run_module("scloud.stack.libvirt_secret", {"usage_name": SECRET_USAGE, "value": key})
    assert not res.failed, res.msg
    yield Rbd(pool=POOL, hosts=[f"127.0.0.1:{ceph_cluster.port_v1}"], secret_uuid=res["secret"]["uuid"])
    run_module("scloud.stack.libvirt_secret", {"usage_name": SECRET_USAGE, "state": "absent"})


def wait_for_guest(name, timeout=90):
    """Wait until the tiny guest's init printed its banner (hot-unplug needs a booted kernel)."""
    log = Path(f"/var/log/libvirt/qemu/{name}-console.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "scloudt-guest-up" in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"guest {name} did not boot within {timeout}s")
