"""libvirt_domain against real libvirtd, Open vSwitch and Ceph: one VM's life, step by step.

Every step: check mode first (its ``actions`` and ``domain`` must be exactly what the real run then
does and returns), the real run, and re-runs that change nothing. Results are verified with
independent readers: ``virsh domblklist/domiflist/domblkinfo/domuuid``, ``ovs-vsctl``, ``rbd``.
The steps share one domain and run in file order.
"""

from __future__ import annotations

import os

import pytest

from tests.harness import run_module
from tests.integration.libvirt.conftest import GUEST_VIRT_TYPE, wait_for_guest

pytestmark = [pytest.mark.libvirt, pytest.mark.ovs, pytest.mark.ceph, pytest.mark.slow]

MODULE = "scloud.stack.libvirt_domain"
NAME = "scloudt-vm1"
MIB = 1024**2


def _converge(args, expect_actions):
    """check -> apply -> check -> apply; the check run predicts the real one exactly."""
    check = run_module(MODULE, args, check=True)
    assert not check.failed and "actions" in check.result, check.result
    apply = run_module(MODULE, args)
    assert not apply.failed and "actions" in apply.result, apply.result
    assert check.result["actions"] == apply.result["actions"] == expect_actions
    assert check.result["domain"] == apply.result["domain"]
    assert check.result["restart_required"] == apply.result["restart_required"]
    assert check.diff == apply.diff
    again = run_module(MODULE, args, check=True)
    assert not again.failed and not again.changed, again.result.get("actions")
    final = run_module(MODULE, args)
    assert not final.failed and not final.changed, final.result.get("actions")
    assert final.result["domain"] == apply.result["domain"]
    return apply


@pytest.fixture(scope="module")
def vm(libvirt_host, ovs, ovs_bridge, rbd_env, ceph_cluster, guest):
    for image in ("vm1-root", "vm1-data"):
        ceph_cluster.rbd("create", "--size", "64M", f"{rbd_env.pool}/{image}", json_out=False)
    console = f"/var/log/libvirt/qemu/{NAME}-console.log"
    if os.path.exists(console):
        os.unlink(console)
    base = {
        "name": NAME,
        "virt_type": GUEST_VIRT_TYPE,
        "vcpus": 1,
        "max_vcpus": 2,
        "memory": "128M",
        "max_memory": "192M",
        "boot": guest,
        "shutdown_timeout": 0,
        "disks": [rbd_env.disk("vda", "vm1-root", cache="none")],
        "nics": [{"bridge": ovs_bridge}],
    }
    state = {"base": base}
    yield state
    libvirt_host.virsh("destroy", NAME, check=False)
    libvirt_host.virsh("undefine", NAME, check=False)


def _ports(ovs, bridge):
    return set(ovs.vsctl("list-ports", bridge).split())


def _iflist(libvirt_host):
    rows = [line.split() for line in libvirt_host.virsh("domiflist", NAME).splitlines() if line.strip()]
    return {row[4]: row[0] for row in rows}  # mac -> tap


def _blklist(libvirt_host):
    rows = [line.split() for line in libvirt_host.virsh("domblklist", NAME).splitlines() if line.strip()]
    return {row[0]: row[1] for row in rows}


def test_define_and_start_with_rbd_disk_and_ovs_nic(vm, libvirt_host, ovs, ovs_bridge, rbd_env):
    res = _converge(vm["base"], ["define", "start"])
    dom = res["domain"]
    assert dom["state"] == "running"
    assert libvirt_host.virsh("domstate", NAME).strip() == "running"
    # UUID and MAC as predicted and stable.
    assert libvirt_host.virsh("domuuid", NAME).strip() == dom["uuid"]
    mac = dom["nics"][0]["mac"]
    assert mac.startswith("52:54:00:")
    vm.update(uuid=dom["uuid"], mac0=mac)
    assert _blklist(libvirt_host) == {"vda": f"{rbd_env.pool}/vm1-root"}
    iflist = _iflist(libvirt_host)
    assert list(iflist) == [mac]
    assert iflist[mac] in _ports(ovs, ovs_bridge)
    wait_for_guest(NAME)


def test_hot_plug_second_disk_and_nic(vm, libvirt_host, ovs, ovs_bridge, rbd_env):
    args = dict(vm["base"])
    args["disks"] = args["disks"] + [rbd_env.disk("vdb", "vm1-data")]
    args["nics"] = args["nics"] + [{"bridge": ovs_bridge, "vlan": 10}]
    args["vcpus"] = 2
    args["memory"] = "160M"
    dom_id = libvirt_host.virsh("domid", NAME).strip()
    check = run_module(MODULE, args, check=True)
    assert not check.failed, check.msg
    mac1 = [n["mac"] for n in check.result["domain"]["nics"] if n.get("vlan") == 10][0]
    expect = [
        "attach disk vdb",
        f"attach nic {mac1}",
        "set vcpus 2",
        "set memory 160M",
        "redefine vcpus,memory,disks,nics",
    ]
    res = _converge(args, expect)
    assert res.result["restart_required"] is False
    assert libvirt_host.virsh("domid", NAME).strip() == dom_id  # live: never restarted
    assert _blklist(libvirt_host) == {"vda": f"{rbd_env.pool}/vm1-root", "vdb": f"{rbd_env.pool}/vm1-data"}
    iflist = _iflist(libvirt_host)
    assert set(iflist) == {vm["mac0"], mac1}
    assert {iflist[vm["mac0"]], iflist[mac1]} <= _ports(ovs, ovs_bridge)
    assert ovs.vsctl("get", "Port", iflist[mac1], "tag").strip() == "10"
    # Persisted: the next boot's definition has them too.
    inactive = libvirt_host.virsh("dumpxml", "--inactive", NAME)
    assert "vm1-data" in inactive and mac1 in inactive
    assert "<vcpu placement='static' current='2'>2</vcpu>" in inactive or ">2</vcpu>" in inactive
    vm.update(plugged=args, mac1=mac1)


def test_rbd_image_grown_is_resized_live(vm, libvirt_host, ceph_cluster, rbd_env):
    assert int(libvirt_host.virsh("domblkinfo", NAME, "vdb").split()[1]) == 64 * MIB
    ceph_cluster.rbd("resize", "--size", "96M", f"{rbd_env.pool}/vm1-data", json_out=False)
    res = _converge(vm["plugged"], ["resize disk vdb 64M -> 96M"])
    assert not res.result["restart_required"]
    # Independent reader: the guest's block device capacity as QEMU reports it through libvirt.
    assert int(libvirt_host.virsh("domblkinfo", NAME, "vdb").split()[1]) == 96 * MIB


def test_hot_unplug_disk_and_nic_keeps_rbd_image(vm, libvirt_host, ovs, ovs_bridge, ceph_cluster, rbd_env):
    args = dict(vm["base"], vcpus=2)
    tap1 = _iflist(libvirt_host)[vm["mac1"]]
    expect = ["detach disk vdb", f"detach nic {vm['mac1']}", "set memory 128M", "redefine memory,disks,nics"]
    res = _converge(args, expect)
    assert not res.result["restart_required"]
    assert _blklist(libvirt_host) == {"vda": f"{rbd_env.pool}/vm1-root"}
    assert list(_iflist(libvirt_host)) == [vm["mac0"]]
    assert tap1 not in _ports(ovs, ovs_bridge)
    assert "vm1-data" in ceph_cluster.rbd("ls", rbd_env.pool)
    assert "vm1-data" not in libvirt_host.virsh("dumpxml", "--inactive", NAME)
    vm["base"] = args


def test_restart_needing_change_waits_for_allow_restart(vm, libvirt_host):
    args = dict(vm["base"], max_vcpus=4)
    dom_id = libvirt_host.virsh("domid", NAME).strip()
    res = _converge(args, ["redefine max_vcpus"])
    assert res.result["restart_required"] is True
    assert res.result["restart_pending"] == ["max_vcpus"]
    assert libvirt_host.virsh("domid", NAME).strip() == dom_id  # not restarted
    again = run_module(MODULE, args)
    assert not again.changed and again.result["restart_required"] is True
    check = run_module(MODULE, dict(args, allow_restart=True), check=True)
    assert check.changed and check.result["actions"] == ["restart"]
    assert check.result["restart_required"] is False
    res = run_module(MODULE, dict(args, allow_restart=True))
    assert res.result["actions"] == ["restart"] and res.result["restart_required"] is False
    assert libvirt_host.virsh("domid", NAME).strip() != dom_id
    assert int(libvirt_host.virsh("vcpucount", NAME, "--live", "--maximum").strip()) == 4
    assert not run_module(MODULE, dict(args, allow_restart=True)).changed
    vm["base"] = args


def test_uuid_and_macs_stable_across_runs(vm, libvirt_host):
    res = run_module(MODULE, vm["base"])
    assert not res.changed
    assert res["domain"]["uuid"] == vm["uuid"] == libvirt_host.virsh("domuuid", NAME).strip()
    assert [n["mac"] for n in res["domain"]["nics"]] == [vm["mac0"]]


def test_domain_info_reports_domain_and_host(vm, libvirt_host):
    res = run_module("scloud.stack.libvirt_domain_info", {"name": NAME})
    assert not res.failed and not res.changed
    (dom,) = res["domains"]
    assert dom["name"] == NAME and dom["state"] == "running" and dom["max_vcpus"] == 4
    assert [d["target"] for d in dom["disks"]] == ["vda"]
    assert dom["nics"][0]["mac"] == vm["mac0"]
    host = res["host"]
    assert host["cpus"] >= 1 and host["memory_bytes"] > host["free_memory_bytes"] > 0
    assert host["running_domains"] >= 1


def test_absent_keeps_rbd_images_unless_delete_disks(vm, libvirt_host, ceph_cluster, rbd_env):
    args = {"name": NAME, "state": "absent"}
    check = run_module(MODULE, args, check=True)
    assert check.changed and check.result["actions"] == ["destroy", "undefine"]
    assert NAME in libvirt_host.domains()
    res = run_module(MODULE, args)
    assert res.changed and res.result["actions"] == ["destroy", "undefine"]
    assert NAME not in libvirt_host.domains()
    assert {"vm1-root", "vm1-data"} <= set(ceph_cluster.rbd("ls", rbd_env.pool))
    assert not run_module(MODULE, args, check=True).changed
    assert not run_module(MODULE, args).changed
    # delete_disks: defined again (shut off), then removed with its image.
    run_module(MODULE, dict(vm["base"], state="shutoff"))
    res = run_module(MODULE, dict(args, delete_disks=True))
    assert res.result["actions"] == ["undefine", f"delete rbd {rbd_env.pool}/vm1-root"]
    assert "vm1-root" not in ceph_cluster.rbd("ls", rbd_env.pool)
