"""A NIC bound to an OVN logical switch port: libvirt sets the OVS iface-id, ovn-controller binds it."""

from __future__ import annotations

import time

import pytest

from tests.harness import run_module

pytestmark = [pytest.mark.libvirt, pytest.mark.ovs]

MODULE = "scloud.stack.libvirt_domain"
NAME = "scloudt-ovn1"
SWITCH = "scloudt-ls1"
PORT = "scloudt-lsp1"


@pytest.fixture
def lsp(ovn):
    ovn.nbctl("--may-exist", "ls-add", SWITCH)
    ovn.nbctl("--may-exist", "lsp-add", SWITCH, PORT)
    # northd creates the Port_Binding the module checks for
    deadline = time.monotonic() + 30
    while PORT not in ovn.sbctl("--bare", "--columns=logical_port", "list", "Port_Binding"):
        assert time.monotonic() < deadline, "northd did not create the Port_Binding"
        time.sleep(0.2)
    yield PORT
    ovn.nbctl("--if-exists", "ls-del", SWITCH)


def test_nic_on_ovn_port_is_bound_by_ovn_controller(libvirt_host, ovs, ovn, lsp):
    args = {"name": NAME, "memory": "64M", "nics": [{"ovn_port": lsp}]}
    try:
        check = run_module(MODULE, args, check=True)
        assert not check.failed, check.msg
        res = run_module(MODULE, args)
        assert not res.failed and res.changed, res.msg
        mac = check["domain"]["nics"][0]["mac"]
        expect = ["define", "start", f"bind nic {mac} to ovn port {lsp}"]
        assert res["actions"] == check["actions"] == expect
        nic = res["domain"]["nics"][0]
        assert nic["bridge"] == "br-int" and nic["ovn_port"] == lsp
        tap = libvirt_host.virsh("domiflist", NAME).split()[0]
        assert ovs.vsctl("get", "Interface", tap, "external_ids:iface-id").strip().strip('"') == lsp
        chassis = ""
        deadline = time.monotonic() + 30
        while not chassis and time.monotonic() < deadline:
            chassis = ovn.sbctl(
                "--bare", "--columns=chassis", "find", "Port_Binding", f"logical_port={lsp}"
            ).strip()
            time.sleep(0.2)
        assert chassis, "ovn-controller did not bind the port"
        again = run_module(MODULE, args)
        assert not again.failed and not again.changed, again.result.get("actions")
        # A restart outside the module loses the name (libvirt re-adds the port with its UUID):
        # the next run sees it and binds again.
        libvirt_host.virsh("destroy", NAME)
        libvirt_host.virsh("start", NAME)
        heal = run_module(MODULE, args)
        assert heal.result["actions"] == [f"bind nic {mac} to ovn port {lsp}"], heal.result
        tap = libvirt_host.virsh("domiflist", NAME).split()[0]
        assert ovs.vsctl("get", "Interface", tap, "external_ids:iface-id").strip().strip('"') == lsp
    finally:
        run_module(MODULE, {"name": NAME, "state": "absent"})
    assert NAME not in libvirt_host.domains()
