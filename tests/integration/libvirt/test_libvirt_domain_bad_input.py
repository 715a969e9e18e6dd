"""Bad input of libvirt_domain: a clear error naming the option and the rule, the domain untouched.

Each case runs against an existing domain (defined, shut off) and, in a real run, must fail before
anything is changed: the persistent XML and the state are compared before and after.
"""

from __future__ import annotations

import os

import pytest

from tests.harness import run_module

pytestmark = [pytest.mark.libvirt, pytest.mark.ovs, pytest.mark.ceph]

MODULE = "scloud.stack.libvirt_domain"
NAME = "scloudt-bad"
DISK = "/var/lib/libvirt/images/scloudt-bad.img"


@pytest.fixture(scope="module")
def victim(libvirt_host, ovs_bridge, ovn):
    with open(DISK, "wb") as fh:
        fh.truncate(16 * 1024**2)
    base = {
        "name": NAME,
        "state": "shutoff",
        "memory": "64M",
        "vcpus": 1,
        "max_vcpus": 2,
        "disks": [{"target": "vda", "path": DISK}],
        "nics": [{"bridge": ovs_bridge}],
    }
    res = run_module(MODULE, base)
    assert not res.failed and res.changed, res.msg
    yield base
    libvirt_host.virsh("destroy", NAME, check=False)
    libvirt_host.virsh("undefine", NAME, check=False)
    os.unlink(DISK)


def _disk(target, path=DISK):
    return {"target": target, "path": path}


CASES = {
    "duplicate disk target": (
        lambda b, r: {"disks": [_disk("vda"), _disk("vda")]},
        "disks[1].target",
        "targets must be unique",
    ),
    "bridge that does not exist": (
        lambda b, r: {"nics": [{"bridge": "scloudt-nobr"}]},
        "nics[0].bridge",
        "bridge scloudt-nobr does not exist",
    ),
    "OVN port that does not exist": (
        lambda b, r: {"nics": [{"ovn_port": "scloudt-no-such-lsp"}]},
        "nics[0].ovn_port",
        "OVN port scloudt-no-such-lsp does not exist",
    ),
    "memory below 1 MiB": (lambda b, r: {"memory": "512K"}, "memory", "below the minimum of 1M"),
    "memory above the host": (
        lambda b, r: {"memory": "64T", "max_memory": "64T"},
        "memory",
        "above the host's memory",
    ),
    "max_memory above the host": (
        lambda b, r: {"max_memory": "64T"},
        "max_memory",
        "above the host's memory",
    ),
    "vcpus above max_vcpus": (lambda b, r: {"vcpus": 4, "max_vcpus": 2}, "vcpus", "must be <= max_vcpus"),
    "RBD image that does not exist": (
        lambda b, r: {"disks": [_disk("vda"), r.disk("vdb", "scloudt-no-such-image")]},
        "disks[1].rbd.image",
        "does not exist",
    ),
    "malformed MAC": (
        lambda b, r: {"nics": [{"bridge": b["nics"][0]["bridge"], "mac": "52:54:00:zz:00:01"}]},
        "nics[0].mac",
        "is not a MAC address",
    ),
    "duplicate MAC": (
        lambda b, r: {
            "nics": [
                {"bridge": b["nics"][0]["bridge"], "mac": "52:54:00:00:00:aa"},
                {"bridge": b["nics"][0]["bridge"], "mac": "52:54:00:00:00:AA"},
            ]
        },
        "nics[1].mac",
        "MACs must be unique",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_and_leaves_domain_untouched(case, victim, libvirt_host, rbd_env):
    change, option, rule = CASES[case]
    args = dict(victim, state="running", **change(victim, rbd_env))
    before = libvirt_host.virsh("dumpxml", "--inactive", NAME)
    for check in (True, False):
        res = run_module(MODULE, args, check=check)
        assert res.failed, f"{case}: accepted ({res.result.get('actions')})"
        assert res.msg.startswith(f"{option}:"), res.msg
        assert rule in res.msg, res.msg
    assert libvirt_host.virsh("dumpxml", "--inactive", NAME) == before
    assert libvirt_host.virsh("domstate", NAME).strip() == "shut off"
