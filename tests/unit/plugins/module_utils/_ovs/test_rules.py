import pytest
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs import rules


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (80, (80, 80)),
        ("80", (80, 80)),
        ("8000-8100", (8000, 8100)),
        ("1 - 65535", (1, 65535)),
    ],
)
def test_parse_port_range(value, expected):
    assert rules.parse_port_range(value, "p") == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("200-100", "ends before it starts"),
        ("0", "outside 1..65535"),
        ("70000", "outside 1..65535"),
        ("http", "not a port"),
        (True, "not a port"),
        ("1-2-3", "not a port"),
    ],
)
def test_parse_port_range_rejects(value, words):
    with pytest.raises(ValidationError) as err:
        rules.parse_port_range(value, "rules[0].port_range")
    assert err.value.option == "rules[0].port_range" and words in err.value.msg


def test_normalise_defaults_and_canonical_forms():
    rule = rules.normalise_rule({"protocol": "TCP", "port_range": 22, "remote_cidr": "10.1.2.3/8"}, 0)
    assert rule == {
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "tcp",
        "port_range": "22",
        "remote_cidr": "10.0.0.0/8",
        "remote_group": None,
    }
    assert rules.rule_from_key(rules.rule_key(rule)) == rule


def test_normalise_rules_dedups_and_orders():
    out = rules.normalise_rules([{"protocol": "udp"}, {"protocol": "icmp"}, {"protocol": "udp"}])
    assert [r["protocol"] for r in out] == ["icmp", "udp"]


@pytest.mark.parametrize(
    ("rule", "option"),
    [
        ({"direction": "inbound"}, "rules[0].direction"),
        ({"ethertype": "ipx"}, "rules[0].ethertype"),
        ({"protocol": "sctp"}, "rules[0].protocol"),
        ({"protocol": "any", "port_range": 22}, "rules[0].port_range"),
        ({"remote_cidr": "10.0.0.0/8", "remote_group": "g"}, "rules[0]"),
        ({"ethertype": "IPv6", "remote_cidr": "10.0.0.0/8"}, "rules[0].remote_cidr"),
        ({"port": 22}, "rules[0]"),
    ],
)
def test_normalise_rule_rejects(rule, option):
    with pytest.raises(ValidationError) as err:
        rules.normalise_rule(rule, 0)
    assert err.value.option == option


def test_acl_matches():
    ingress = rules.normalise_rule({"protocol": "tcp", "port_range": "80-81", "remote_group": "lb"}, 0)
    assert rules.acl_for_rule(ingress, "sg_web", "sg_lb") == (
        "to-lport",
        "outport == @sg_web && ip4 && ip4.src == $sg_lb_ip4 && tcp && tcp.dst >= 80 && tcp.dst <= 81",
    )
    egress = rules.normalise_rule({"direction": "egress", "ethertype": "IPv6", "protocol": "icmp"}, 0)
    assert rules.acl_for_rule(egress, "sg_web") == ("from-lport", "inport == @sg_web && ip6 && icmp6")


def test_port_group_names_are_valid_and_distinct():
    a, b = rules.port_group_name("a-b"), rules.port_group_name("a_b")
    assert a != b and a.replace("_", "").isalnum()
