"""Smoke tests of the Open vSwitch and OVN fixtures: the real engines answer."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.ovs


def test_ovs_answers_and_takes_a_netdev_bridge(ovs):
    assert "ovs_version" in ovs.vsctl("show")
    ovs.vsctl(
        "--may-exist",
        "add-br",
        "br-smoke",
        "--",
        "set",
        "Bridge",
        "br-smoke",
        f"datapath_type={ovs.datapath_type}",
    )
    try:
        rows = ovs.vsctl_json("--columns=name,datapath_type", "list", "Bridge", "br-smoke")
        assert rows == [{"name": "br-smoke", "datapath_type": "netdev"}]
        # vswitchd really created the bridge's datapath (not only the database row).
        assert "br-smoke" in ovs.ofctl("show", "br-smoke")
    finally:
        ovs.vsctl("--if-exists", "del-br", "br-smoke")


def test_ovn_nb_accepts_a_switch_and_the_chassis_is_registered(ovn):
    ovn.nbctl("--may-exist", "ls-add", "ls-smoke")
    try:
        ovn.nbctl("--wait=sb", "sync")
        names = [r["name"] for r in ovn.nb_json("--columns=name", "list", "Logical_Switch")]
        assert "ls-smoke" in names
        # northd turned it into a datapath binding in the SB.
        deadline = time.monotonic() + 10
        while "ls-smoke" not in ovn.sbctl("list", "Datapath_Binding"):
            assert time.monotonic() < deadline, "northd did not create the datapath binding"
            time.sleep(0.1)
        chassis = [r["name"] for r in ovn.sb_json("--columns=name", "list", "Chassis")]
        assert chassis == [ovn.chassis]
    finally:
        ovn.nbctl("--if-exists", "ls-del", "ls-smoke")
