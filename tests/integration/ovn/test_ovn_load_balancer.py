"""ovn_load_balancer against the real OVN Northbound database, read back with ovn-nbctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module
from tests.integration.ovn._nb import one

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_load_balancer"


@pytest.fixture(scope="module")
def web(ovn):
    run_module("scloud.stack.ovn_switch", {"name": "lb-web", "vpc": "lb", "cidr": "10.70.0.0/24"})
    for port, ip in (("lb-vm1", "10.70.0.10"), ("lb-vm2", "10.70.0.11")):
        run_module("scloud.stack.ovn_port", {"switch": "lb-web", "name": port, "ips": [ip]})
    yield "lb-web"
    for port in ("lb-vm1", "lb-vm2"):
        run_module("scloud.stack.ovn_port", {"name": port, "state": "absent"})
    run_module("scloud.stack.ovn_switch", {"name": "lb-web", "state": "absent"})


def test_load_balancer_lifecycle(ovn, web):
    args = {
        "name": "lb-http",
        "vip": "10.70.0.100:80",
        "members": ["10.70.0.11:8080", "10.70.0.10:8080"],
        "health_check": {"interval": 2},
        "switches": [web],
    }
    runs = converge(M, args)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    lb = one(ovn, "Load_Balancer", "lb-http", "vips", "protocol", "ip_port_mappings", "health_check")
    assert lb["vips"] == {"10.70.0.100:80": "10.70.0.10:8080,10.70.0.11:8080"}
    assert lb["protocol"] == "tcp"
    assert lb["ip_port_mappings"] == {"10.70.0.10": "lb-vm1:10.70.0.1", "10.70.0.11": "lb-vm2:10.70.0.1"}
    assert lb["health_check"]
    assert "lb-http" in ovn.nbctl("ls-lb-list", web)

    r = run_module(M, dict(args, members=["10.70.0.10:8080"], health_check=None))
    assert r.changed and r.diff[0]["after"]["members"] == ["10.70.0.10:8080"]
    lb = one(ovn, "Load_Balancer", "lb-http", "vips", "health_check")
    assert lb["vips"] == {"10.70.0.100:80": "10.70.0.10:8080"} and lb["health_check"] == []

    runs = converge(M, {"name": "lb-http", "state": "absent"})
    assert runs["apply"].changed and not runs["apply_again"].changed
    assert "lb-http" not in ovn.nbctl("lb-list")


BAD = [
    ({"vip": "10.70.0.100"}, "vip", "not IP:PORT"),
    ({"vip": "10.70.0.100:70000"}, "vip", "not IP:PORT"),
    ({"members": ["10.70.0.300:80"]}, "members[0]", "not a valid IP"),
    ({"members": []}, "members", "at least one"),
    ({"switches": ["nope"]}, "switches", "does not exist"),
    ({"health_check": {}, "members": ["10.70.0.99:80"]}, "health_check", "not the address of any port"),
]


def test_bad_input(ovn, web):
    base = {"name": "lb-bad", "vip": "10.70.0.100:80", "members": ["10.70.0.10:80"]}
    results = run_cases(M, [{**base, **args} for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert "lb-bad" not in ovn.nbctl("lb-list")
