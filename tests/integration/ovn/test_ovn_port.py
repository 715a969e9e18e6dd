"""ovn_port against the real OVN Northbound database, verified with ovn-nbctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module
from tests.integration.ovn._nb import one

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_port"


@pytest.fixture(scope="module")
def subnet(ovn):
    r = run_module(
        "scloud.stack.ovn_switch",
        {"name": "pt-net", "vpc": "pt", "cidr": "10.50.0.0/24", "exclude_ips": ["10.50.0.2..10.50.0.9"]},
    )
    assert not r.failed, r.msg
    yield "pt-net"
    for lsp in ovn.nbctl("lsp-list", "pt-net").split("\n"):
        if lsp.strip():
            ovn.nbctl("--if-exists", "lsp-del", lsp.split()[0])
    run_module("scloud.stack.ovn_switch", {"name": "pt-net", "state": "absent"})


def test_allocated_address_is_stable(ovn, subnet):
    runs = converge(M, {"switch": subnet, "name": "vm-a"})
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    port = runs["apply_again"]["port"]
    # The gateway (.1) and the exclusions (.2-.9) are never allocated.
    assert port["ips"] == ["10.50.0.10"] and port["dhcp"] and port["port_security"]
    assert runs["check"]["port"] == port  # check mode predicted the same MAC and IP
    lsp = one(ovn, "Logical_Switch_Port", "vm-a", "addresses", "port_security", "dhcpv4_options")
    assert lsp["addresses"] == f"{port['mac']} 10.50.0.10"
    assert lsp["port_security"] == lsp["addresses"]
    assert lsp["dhcpv4_options"]  # bound to the subnet's DHCP options

    r = run_module(M, {"switch": subnet, "name": "vm-b"})
    assert r["port"]["ips"] == ["10.50.0.11"] and r["port"]["mac"] != port["mac"]


def test_fixed_address_and_mac(ovn, subnet):
    args = {
        "switch": subnet,
        "name": "vm-fixed",
        "mac": "0A-58-00-00-00-42",
        "ips": ["10.50.0.42"],
        "port_security": False,
    }
    runs = converge(M, args)
    assert runs["apply"]["port"]["mac"] == "0a:58:00:00:00:42"
    lsp = one(ovn, "Logical_Switch_Port", "vm-fixed", "addresses", "port_security")
    assert lsp["addresses"] == "0a:58:00:00:00:42 10.50.0.42" and lsp["port_security"] == []
    # Readdressed: diff shows before/after.
    r = run_module(M, dict(args, ips=["10.50.0.43"]))
    assert r.changed and r.diff[0]["before"]["ips"] == ["10.50.0.42"]
    assert r.diff[0]["after"]["ips"] == ["10.50.0.43"]
    runs = converge(M, {"name": "vm-fixed", "state": "absent"})
    assert runs["apply"].changed and not runs["apply_again"].changed
    assert "vm-fixed" not in ovn.nbctl("lsp-list", subnet)


def test_security_group_membership(ovn, subnet):
    run_module("scloud.stack.ovn_security_group", {"name": "pt-sg", "rules": [{"protocol": "icmp"}]})
    r = run_module(M, {"switch": subnet, "name": "vm-sg", "security_groups": ["pt-sg"]})
    assert r.changed and r["port"]["security_groups"] == ["pt-sg"]
    pg = [p for p in ovn.nb_json("--columns=name,ports", "list", "Port_Group")]
    names = {p["name"] for p in pg}
    assert "scloud_sg_drop" in names  # default deny for ports with a security group
    lsp_uuid = ovn.nbctl("--bare", "--columns=_uuid", "find", "Logical_Switch_Port", "name=vm-sg").strip()
    assert lsp_uuid in ovn.nbctl("--bare", "--columns=ports", "find", "Port_Group", "name=scloud_sg_drop")
    r = run_module(M, {"switch": subnet, "name": "vm-sg", "security_groups": []})
    assert r.changed and r["port"]["security_groups"] == []
    assert lsp_uuid not in ovn.nbctl("--bare", "--columns=ports", "find", "Port_Group", "name=scloud_sg_drop")


BAD = [
    ({"mac": "0a:58:zz:00:00:01"}, "mac", "not a valid MAC"),
    ({"mac": "01:00:5e:00:00:01"}, "mac", "multicast"),
    ({"ips": ["10.99.0.5"]}, "ips", "outside the subnet"),
    ({"ips": ["10.50.0.1"]}, "ips", "gateway"),
    ({"ips": ["10.50.0.10"]}, "ips", "already used by port vm-a"),
    ({"security_groups": ["nope"]}, "security_groups", "does not exist"),
    ({"switch": "no-such-net"}, "switch", "does not exist"),
]


def test_bad_input(ovn, subnet):
    run_module(M, {"switch": subnet, "name": "vm-a"})
    before = ovn.nbctl("lsp-list", subnet)
    results = run_cases(M, [{"switch": subnet, "name": "vm-bad", **args} for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert ovn.nbctl("lsp-list", subnet) == before
    assert not ovn.nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name=vm-bad").strip()


def test_many_ports_in_one_task_get_distinct_addresses(ovn, subnet):
    items = [{"switch": subnet, "name": f"many-{i}"} for i in range(4)]
    runs = converge(M, {"ports": items})
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    ips = [p["ips"][0] for p in runs["apply_again"]["ports"]]
    assert len(set(ips)) == 4
    assert runs["check"]["ports"] == runs["apply_again"]["ports"]  # predicted exactly
    for i, ip in enumerate(ips):
        lsp = one(ovn, "Logical_Switch_Port", f"many-{i}", "addresses")
        assert lsp["addresses"].endswith(" " + ip)
    converge(M, {"ports": [{"name": i["name"], "state": "absent"} for i in items]})
