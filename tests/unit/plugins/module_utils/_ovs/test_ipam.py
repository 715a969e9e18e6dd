import ipaddress

import pytest
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs import ipam

NET = ipaddress.ip_network("10.0.0.0/24")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("10.0.0.0/33", "not a valid IPv4 network"),
        ("10.0.0.5/24", "not a valid IPv4 network"),
        ("bogus", "not a valid IPv4 network"),
        ("fd00::/64", "not an IPv4 network"),
        ("10.0.0.0/31", "too small"),
    ],
)
def test_parse_cidr_rejects(value, words):
    with pytest.raises(ValidationError) as err:
        ipam.parse_cidr(value)
    assert err.value.option == "cidr" and words in err.value.msg


def test_parse_cidr_and_default_gateway():
    net = ipam.parse_cidr("192.168.4.0/22")
    assert str(ipam.default_gateway(net)) == "192.168.4.1"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("10.0.1.1", "outside the subnet"),
        ("10.0.0.0", "network or broadcast"),
        ("10.0.0.255", "network or broadcast"),
        ("10.0.0", "not a valid IP"),
    ],
)
def test_ip_in_subnet_rejects(value, words):
    with pytest.raises(ValidationError) as err:
        ipam.ip_in_subnet(value, NET, "gateway_ip")
    assert err.value.option == "gateway_ip" and words in err.value.msg


def test_exclusions_parse_sort_and_format():
    ranges = ipam.parse_exclusions(["10.0.0.50", "10.0.0.10..10.0.0.20"], NET)
    assert ipam.format_exclusions(ranges) == ["10.0.0.10..10.0.0.20", "10.0.0.50"]
    with pytest.raises(ValidationError, match="ends before it starts"):
        ipam.parse_exclusions(["10.0.0.20..10.0.0.10"], NET)


def test_overlapping():
    others = [("a", ipaddress.ip_network("10.1.0.0/16")), ("b", ipaddress.ip_network("10.0.0.128/25"))]
    assert ipam.overlapping(NET, others)[0] == "b"
    assert ipam.overlapping(ipaddress.ip_network("10.2.0.0/24"), others) is None


@pytest.mark.parametrize(
    ("used", "exclusions", "expected"),
    [
        ([], [], "10.0.0.1"),
        (["10.0.0.1"], [], "10.0.0.2"),
        (["10.0.0.1", "10.0.0.3"], [], "10.0.0.2"),
        (["10.0.0.1"], [("10.0.0.2", "10.0.0.9")], "10.0.0.10"),
    ],
)
def test_allocate_ip_lowest_free(used, exclusions, expected):
    excl = [(ipaddress.ip_address(a), ipaddress.ip_address(b)) for a, b in exclusions]
    assert str(ipam.allocate_ip(NET, used, excl)) == expected


def test_allocate_ip_full_subnet():
    net = ipaddress.ip_network("10.0.0.0/30")
    with pytest.raises(ValidationError, match="no free address"):
        ipam.allocate_ip(net, ["10.0.0.1", "10.0.0.2"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0A:58:00:00:00:01", "0a:58:00:00:00:01"),
        ("0a-58-00-00-00-01", "0a:58:00:00:00:01"),
    ],
)
def test_normalise_mac(value, expected):
    assert ipam.normalise_mac(value) == expected


@pytest.mark.parametrize("value", ["0a:58:00:00:00", "zz:58:00:00:00:01", "01:00:5e:00:00:01"])
def test_normalise_mac_rejects(value):
    with pytest.raises(ValidationError) as err:
        ipam.normalise_mac(value)
    assert err.value.option == "mac"


def test_stable_mac_is_deterministic_unicast_and_avoids_taken():
    first = ipam.stable_mac("net", "vm1")
    assert first == ipam.stable_mac("net", "vm1") and first.startswith("0a:58:")
    assert not int(first[:2], 16) & 1
    assert ipam.stable_mac("net", "vm1", taken={first}) != first


def test_parse_addresses():
    assert ipam.parse_addresses("0a:58:00:00:00:01 10.0.0.5 10.0.0.6") == (
        "0a:58:00:00:00:01",
        ["10.0.0.5", "10.0.0.6"],
    )
    assert ipam.parse_addresses("router") == (None, [])
    assert ipam.parse_addresses("dynamic") == (None, [])
