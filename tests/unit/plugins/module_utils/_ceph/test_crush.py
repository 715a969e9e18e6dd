import pytest
from ansible_collections.scloud.stack.plugins.module_utils._ceph import crush as crushmap

from tests.unit.plugins.module_utils._ceph._samples import crush


@pytest.mark.parametrize(
    ("root", "domain", "device_class", "expected"),
    [
        ("default", "host", None, ["host0", "host1", "host2"]),
        ("default", "rack", None, ["rack0", "rack1"]),
        ("default", "host", "hdd", ["host0", "host1"]),
        ("default", "rack", "ssd", ["rack1"]),
        ("default", "osd", None, ["osd.0", "osd.1", "osd.2"]),
        ("default", "osd", "ssd", ["osd.2"]),
        ("default", "datacenter", None, []),
        ("no-such-root", "host", None, []),
        ("rack0", "host", None, ["host0", "host1"]),
    ],
)
def test_failure_domains(root, domain, device_class, expected):
    assert crushmap.failure_domains(crush(), root, domain, device_class) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("replicated_rule", ("replicated", "default", "host", None)),
        ("ssd-rack", ("replicated", "default", "rack", "ssd")),
        ("ec", ("erasure", "default", "host", None)),
    ],
)
def test_describe_rule_reads_shadow_roots_and_skips_set_steps(name, expected):
    d = crushmap.describe_rule(crushmap.rule_by_name(crush(), name))
    assert (d["rule_type"], d["root"], d["failure_domain"], d["device_class"]) == expected


def test_lookups():
    c = crush()
    assert crushmap.rule_by_id(c, 1)["rule_name"] == "ssd-rack"
    assert crushmap.rule_by_name(c, "missing") is None
    assert "default~hdd" not in crushmap.bucket_names(c)
    assert crushmap.device_classes(c) == ["hdd", "ssd"]
    assert crushmap.pools_using_rule(
        [
            {"pool_name": "b", "crush_rule": 1},
            {"pool_name": "a", "crush_rule": 1},
            {"pool_name": "c", "crush_rule": 0},
        ],
        1,
    ) == ["a", "b"]
