"""ovn_security_group against the real OVN Northbound database, verified with ovn-nbctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module
from tests.integration.ovn._nb import rows

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_security_group"


def _acls(ovn, sg):
    return sorted(
        (a["direction"], a["match"], a["action"])
        for a in rows(ovn, "ACL")
        if a["external_ids"].get("scloud:security_group") == sg
    )


def test_exact_rule_set_is_reconciled(ovn):
    args = {
        "name": "web",
        "rules": [
            {"protocol": "tcp", "port_range": "80"},
            {"protocol": "tcp", "port_range": "8000-8100", "remote_cidr": "10.0.0.0/8"},
            {"protocol": "icmp"},
            {"direction": "egress"},
        ],
    }
    runs = converge(M, args)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    pg = runs["apply"]["security_group"]["port_group"]
    assert _acls(ovn, "web") == sorted(
        [
            ("to-lport", f"outport == @{pg} && ip4 && tcp && tcp.dst == 80", "allow-related"),
            (
                "to-lport",
                f"outport == @{pg} && ip4 && ip4.src == 10.0.0.0/8 && tcp && tcp.dst >= 8000 && "
                "tcp.dst <= 8100",
                "allow-related",
            ),
            ("to-lport", f"outport == @{pg} && ip4 && icmp4", "allow-related"),
            ("from-lport", f"inport == @{pg} && ip4", "allow-related"),
        ]
    )

    # One rule dropped, one added: exactly those ACLs change.
    new = {
        "name": "web",
        "rules": [{"protocol": "tcp", "port_range": 80}, {"protocol": "udp", "port_range": "53"}],
    }
    r = run_module(M, new, check=True)
    assert r.changed and len(_acls(ovn, "web")) == 4
    r = run_module(M, new)
    assert r.changed and [x["protocol"] for x in r["security_group"]["rules"]] == ["tcp", "udp"]
    assert len(_acls(ovn, "web")) == 2
    assert not run_module(M, new).changed

    # An ACL edited by hand is put back.
    uuid = ovn.nbctl(
        "--bare",
        "--columns=_uuid",
        "find",
        "ACL",
        'external_ids:"scloud:security_group"=web',
        "action=allow-related",
    ).split()[0]
    ovn.nbctl("set", "ACL", uuid, 'match="ip4"')
    r = run_module(M, new)
    assert r.changed
    assert all(m != "ip4" for _, m, _ in _acls(ovn, "web"))

    runs = converge(M, {"name": "web", "state": "absent"})
    assert runs["apply"].changed and not runs["apply_again"].changed
    assert _acls(ovn, "web") == []


def test_remote_group(ovn):
    run_module(M, {"name": "bastion", "rules": []})
    r = run_module(
        M,
        {
            "name": "db",
            "rules": [
                {"protocol": "tcp", "port_range": 5432, "remote_group": "bastion"},
                {"protocol": "tcp", "remote_group": "db"},
            ],
        },
    )
    assert r.changed and not r.failed
    matches = [m for _, m, _ in _acls(ovn, "db")]
    assert any("$sg_bastion_" in m and m.endswith("_ip4 && tcp && tcp.dst == 5432") for m in matches)
    for name in ("db", "bastion"):
        run_module(M, {"name": name, "state": "absent"})


BAD = [
    ({"protocol": "tcp", "port_range": "200-100"}, "rules[0].port_range", "ends before it starts"),
    ({"protocol": "tcp", "port_range": "0-10"}, "rules[0].port_range", "outside 1..65535"),
    ({"protocol": "icmp", "port_range": "22"}, "rules[0].port_range", "only tcp and udp"),
    ({"protocol": "gre"}, "rules[0].protocol", "not one of"),
    ({"remote_group": "ghost"}, "rules[0].remote_group", "security group ghost does not exist"),
    ({"remote_cidr": "10.0.0.0/40"}, "rules[0].remote_cidr", "not a valid network"),
    ({"remote_cidr": "fd00::/8"}, "rules[0].remote_cidr", "not an IPv4 network"),
]


def test_bad_input(ovn):
    results = run_cases(M, [{"name": "bad", "rules": [rule]} for rule, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert not [
        pg
        for pg in rows(ovn, "Port_Group", "external_ids")
        if pg["external_ids"].get("scloud:security_group") == "bad"
    ]
    assert not _acls(ovn, "bad")
