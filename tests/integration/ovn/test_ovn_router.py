"""ovn_router and ovn_floating_ip against the real OVN Northbound database, read back with ovn-nbctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module
from tests.integration.ovn._nb import one, rows

pytestmark = pytest.mark.ovs
R = "scloud.stack.ovn_router"
F = "scloud.stack.ovn_floating_ip"
SW = "scloud.stack.ovn_switch"


@pytest.fixture(scope="module")
def vpc(ovn):
    nets = [
        ("rt-web", "rt", "10.60.1.0/24"),
        ("rt-db", "rt", "10.60.2.0/24"),
        ("rt-other", "zz", "10.61.0.0/24"),
        ("rt-public", "public", "203.0.113.0/24"),
    ]
    for name, vpc_name, cidr in nets:
        assert not run_module(SW, {"name": name, "vpc": vpc_name, "cidr": cidr, "dhcp": False}).failed
    for port, ip in (("rt-vm1", "10.60.1.10"), ("rt-vm2", "10.60.1.11")):
        assert not run_module("scloud.stack.ovn_port", {"switch": "rt-web", "name": port, "ips": [ip]}).failed
    yield
    run_module(R, {"name": "rt-router", "state": "absent"})
    for port in ("rt-vm1", "rt-vm2"):
        run_module("scloud.stack.ovn_port", {"name": port, "state": "absent"})
    for name, *_ in nets:
        run_module(SW, {"name": name, "state": "absent"})


ROUTER = {
    "name": "rt-router",
    "vpc": "rt",
    "subnets": [{"switch": "rt-web"}, {"switch": "rt-db", "gateway_ip": "10.60.2.254"}],
    "external_gateway": {
        "network": "rt-public",
        "ip": "203.0.113.10",
        "gateway": "203.0.113.1",
        "chassis": ["scloud-test-chassis"],
    },
    "snat": ["rt-web"],
    "static_routes": [{"prefix": "192.168.0.0/16", "nexthop": "10.60.2.5"}],
}


def test_router_with_nat_gateway(ovn, vpc):
    runs = converge(R, ROUTER)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    assert runs["check"]["router"] == runs["apply_again"]["router"]

    lrps = {r["name"]: r for r in rows(ovn, "Logical_Router_Port", "name", "networks")}
    assert lrps["lrp-rt-router-rt-web"]["networks"] == "10.60.1.1/24"
    assert lrps["lrp-rt-router-rt-db"]["networks"] == "10.60.2.254/24"
    assert lrps["lrp-rt-router-gw"]["networks"] == "203.0.113.10/24"
    peer = one(ovn, "Logical_Switch_Port", "lsp-rt-router-rt-web", "type", "options")
    assert peer["type"] == "router" and peer["options"] == {"router-port": "lrp-rt-router-rt-web"}
    nat = ovn.nbctl("lr-nat-list", "rt-router")
    assert "snat" in nat and "203.0.113.10" in nat and "10.60.1.0/24" in nat
    routes = ovn.nbctl("lr-route-list", "rt-router")
    assert "192.168.0.0/16" in routes and "0.0.0.0/0" in routes and "203.0.113.1" in routes
    gc = rows(ovn, "Gateway_Chassis", "chassis_name")
    assert [g["chassis_name"] for g in gc] == ["scloud-test-chassis"]

    # Detach a subnet, drop SNAT: exactly those rows go.
    smaller = dict(ROUTER, subnets=[{"switch": "rt-web"}], snat=[])
    r = run_module(R, smaller)
    assert r.changed and [s["switch"] for s in r["router"]["subnets"]] == ["rt-web"]
    assert "lrp-rt-router-rt-db" not in ovn.nbctl("lrp-list", "rt-router")
    assert "lsp-rt-router-rt-db" not in ovn.nbctl("lsp-list", "rt-db")
    assert "snat" not in ovn.nbctl("lr-nat-list", "rt-router")
    assert not run_module(R, smaller).changed
    assert run_module(R, ROUTER).changed


def test_floating_ip_bind_rebind_unbind(ovn, vpc):
    run_module(R, ROUTER)
    args = {"router": "rt-router", "external_ip": "203.0.113.20", "port": "rt-vm1"}
    runs = converge(F, args)
    assert runs["apply"]["floating_ip"]["fixed_ip"] == "10.60.1.10"
    assert not runs["apply_again"].changed
    nat = [n for n in rows(ovn, "NAT") if n["type"] == "dnat_and_snat"]
    assert len(nat) == 1 and nat[0]["external_ip"] == "203.0.113.20" and nat[0]["logical_ip"] == "10.60.1.10"
    uuid = nat[0]["_uuid"]
    # Re-bound to the other VM: same row rewritten.
    r = run_module(F, dict(args, port="rt-vm2"))
    assert r.changed and r.diff[0]["before"]["port"] == "rt-vm1" and r.diff[0]["after"]["port"] == "rt-vm2"
    nat = [n for n in rows(ovn, "NAT") if n["type"] == "dnat_and_snat"]
    assert nat[0]["_uuid"] == uuid and nat[0]["logical_ip"] == "10.60.1.11"
    runs = converge(F, {"router": "rt-router", "external_ip": "203.0.113.20", "state": "absent"})
    assert runs["apply"].changed and not runs["apply_again"].changed
    assert not [n for n in rows(ovn, "NAT") if n["type"] == "dnat_and_snat"]


def test_floating_ip_bound_elsewhere_is_refused(ovn, vpc):
    run_module(R, ROUTER)
    ovn.nbctl("lr-add", "rt-foreign")
    ovn.nbctl("lr-nat-add", "rt-foreign", "dnat_and_snat", "203.0.113.30", "10.99.0.5")
    try:
        r = run_module(F, {"router": "rt-router", "external_ip": "203.0.113.30", "port": "rt-vm1"})
        assert r.failed and r.msg == "external_ip: 203.0.113.30 is already bound on router rt-foreign"
        assert "203.0.113.30" not in ovn.nbctl("lr-nat-list", "rt-router")
    finally:
        ovn.nbctl("lr-del", "rt-foreign")


BAD = [
    ({"subnets": [{"switch": "rt-other"}]}, "subnets[0].switch", "is in VPC zz, not rt"),
    ({"subnets": [{"switch": "rt-web", "gateway_ip": "10.60.9.1"}]}, "subnets[0].gateway_ip", "outside"),
    ({"subnets": [{"switch": "nope"}]}, "subnets[0].switch", "does not exist"),
    ({"snat": ["rt-db"], "subnets": [{"switch": "rt-web"}]}, "snat", "not one of the router's subnets"),
    ({"external_gateway": {"network": "rt-public", "ip": "198.51.100.1"}}, "external_gateway.ip", "outside"),
    (
        {"static_routes": [{"prefix": "300.0.0.0/8", "nexthop": "10.60.1.5"}]},
        "static_routes[0].prefix",
        "not a valid network",
    ),
]


def test_router_bad_input(ovn, vpc):
    def ours():
        return [ovn.nbctl("lsp-list", sw) for sw in ("rt-web", "rt-db", "rt-other", "rt-public")]

    before = ours()
    results = run_cases(R, [{"name": "rt-bad", "vpc": "rt", **args} for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert "rt-bad" not in ovn.nbctl("lr-list") and ours() == before
