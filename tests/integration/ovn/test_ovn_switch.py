"""ovn_switch against the real OVN Northbound database, verified with ovn-nbctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module
from tests.integration.ovn._nb import one, rows

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_switch"


def test_subnet_lifecycle(ovn):
    args = {
        "name": "red-a",
        "vpc": "red",
        "cidr": "10.20.1.0/24",
        "dns_servers": ["10.0.0.53"],
        "exclude_ips": ["10.20.1.200..10.20.1.250"],
    }
    runs = converge(M, args)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    sw = runs["apply_again"]["switch"]
    assert sw["gateway_ip"] == "10.20.1.1" and sw["cidr"] == "10.20.1.0/24" and sw["dhcp"]
    assert runs["check"]["switch"] == sw  # check mode predicted exactly

    ls = one(ovn, "Logical_Switch", "red-a", "external_ids", "other_config")
    assert ls["external_ids"]["scloud:vpc"] == "red"
    assert ls["other_config"] == {
        "subnet": "10.20.1.0/24",
        "exclude_ips": "10.20.1.1 10.20.1.200..10.20.1.250",
    }
    dhcp = [d for d in rows(ovn, "DHCP_Options") if d["external_ids"].get("scloud:switch") == "red-a"]
    assert len(dhcp) == 1 and dhcp[0]["cidr"] == "10.20.1.0/24"
    assert dhcp[0]["options"]["router"] == "10.20.1.1" and dhcp[0]["options"]["dns_server"] == "{10.0.0.53}"

    # Without DHCP: the options row goes, in one change.
    r = run_module(M, dict(args, dhcp=False))
    assert r.changed and r.diff[0]["before"]["dhcp"] and not r.diff[0]["after"]["dhcp"]
    assert not [d for d in rows(ovn, "DHCP_Options") if d["external_ids"].get("scloud:switch") == "red-a"]
    assert not run_module(M, dict(args, dhcp=False)).changed

    runs = converge(M, {"name": "red-a", "state": "absent"})
    assert runs["apply"].changed and not runs["apply_again"].changed
    assert "red-a" not in ovn.nbctl("ls-list")


def test_overlap_only_matters_inside_one_vpc(ovn):
    assert run_module(M, {"name": "ov-1", "vpc": "v1", "cidr": "10.30.0.0/16"}).changed
    # Same range in another VPC: fine.
    assert run_module(M, {"name": "ov-2", "vpc": "v2", "cidr": "10.30.1.0/24"}).changed
    r = run_module(M, {"name": "ov-3", "vpc": "v1", "cidr": "10.30.5.0/24"})
    assert r.failed and r.msg == "cidr: 10.30.5.0/24 overlaps 10.30.0.0/16 of switch ov-1 in VPC v1"
    assert "ov-3" not in ovn.nbctl("ls-list")
    for name in ("ov-1", "ov-2"):
        run_module(M, {"name": name, "state": "absent"})


def test_removing_a_subnet_with_ports_is_refused(ovn):
    run_module(M, {"name": "busy", "vpc": "v9", "cidr": "10.40.0.0/24"})
    ovn.nbctl("lsp-add", "busy", "busy-vm")
    r = run_module(M, {"name": "busy", "state": "absent"})
    assert r.failed and "busy-vm" in r.msg and r.msg.startswith("state:")
    assert "busy" in ovn.nbctl("ls-list")
    ovn.nbctl("lsp-del", "busy-vm")
    assert run_module(M, {"name": "busy", "state": "absent"}).changed


BAD = [
    ({"cidr": "10.0.0.0/33"}, "cidr", "not a valid IPv4 network"),
    ({"cidr": "10.0.0.1/24"}, "cidr", "not a valid IPv4 network"),
    ({"cidr": "fd00::/64"}, "cidr", "not an IPv4 network"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, "gateway_ip", "outside the subnet"),
    ({"cidr": "10.0.0.0/24", "exclude_ips": ["10.0.0.9..10.0.0.3"]}, "exclude_ips", "ends before"),
    ({"cidr": "10.0.0.0/24", "dns_servers": ["dns.example"]}, "dns_servers", "not a valid IP"),
]


def test_bad_input(ovn):
    results = run_cases(M, [{"name": "bad", "vpc": "x", **args} for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert "bad" not in ovn.nbctl("ls-list").split()
    assert not [d for d in rows(ovn, "DHCP_Options") if d["external_ids"].get("scloud:switch") == "bad"]
