import pytest
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._libvirt import spec as specmod

BASE = {"name": "vm1", "state": "running", "vcpus": 1, "memory": "512M"}


def build(**kw):
    return specmod.build_spec({**BASE, **kw})


def test_defaults_and_units():
    s = build(max_vcpus=4, max_memory="2G")
    assert s["vcpus"] == 1 and s["max_vcpus"] == 4
    assert s["memory"] == 512 * 1024 and s["max_memory"] == 2 * 1024**2
    assert s["boot"] == {"dev": ["hd"], "kernel": None, "initrd": None, "cmdline": None}
    assert specmod.public(s)["memory"] == "512M" and specmod.public(s)["max_memory"] == "2G"


def test_maxima_default_to_the_values():
    s = build(vcpus=2, memory="1G")
    assert s["max_vcpus"] == 2 and s["max_memory"] == s["memory"]


def test_uuid_is_stable_and_per_name():
    assert specmod.domain_uuid("vm1") == specmod.domain_uuid("vm1") != specmod.domain_uuid("vm2")


def test_derived_macs_are_stable_unicast_and_distinct():
    nics = [{"bridge": "br0"}, {"bridge": "br0"}, {"bridge": "br0", "vlan": 5}, {"ovn_port": "p1"}]
    a = [n["mac"] for n in build(nics=nics)["nics"]]
    b = [n["mac"] for n in build(nics=nics)["nics"]]
    assert a == b and len(set(a)) == 4
    assert all(m.startswith("52:54:00:") for m in a)
    other = [n["mac"] for n in specmod.build_spec({**BASE, "name": "vm2", "nics": nics})["nics"]]
    assert not set(a) & set(other)


def test_removing_a_nic_keeps_the_other_macs():
    two = build(nics=[{"ovn_port": "p1"}, {"ovn_port": "p2"}])["nics"]
    one = build(nics=[{"ovn_port": "p2"}])["nics"]
    assert [n["mac"] for n in two if n["ovn_port"] == "p2"] == [one[0]["mac"]]


def test_ovn_port_defaults_to_br_int():
    (nic,) = build(nics=[{"ovn_port": "p1"}])["nics"]
    assert nic["bridge"] == "br-int" and nic["ovn_port"] == "p1"


def test_mac_is_normalised():
    (nic,) = build(nics=[{"bridge": "br0", "mac": "52-54-00-AB-CD-EF"}])["nics"]
    assert nic["mac"] == "52:54:00:ab:cd:ef"


def test_rbd_disk_normalised():
    rbd = {
        "pool": "p",
        "image": "i",
        "hosts": ["10.0.0.1"],
        "secret_uuid": "5A1C0E6E-9D7B-4A8F-8F39-3C2F5C1A1F00",
    }
    (disk,) = build(disks=[{"target": "vda", "rbd": rbd}])["disks"]
    assert disk["bus"] == "virtio" and disk["cache"] == "default"
    assert disk["rbd"] == {
        "pool": "p",
        "image": "i",
        "user": "admin",
        "hosts": ["10.0.0.1:6789"],
        "secret_uuid": "5a1c0e6e-9d7b-4a8f-8f39-3c2f5c1a1f00",
        "config": None,
    }


def test_direct_boot_has_no_boot_order():
    s = build(boot={"kernel": "/k", "initrd": "/i", "cmdline": "console=ttyS0"})
    assert s["boot"]["dev"] == []


@pytest.mark.parametrize(
    "params, option, rule",
    [
        ({"name": "bad/name"}, "name", "is not a domain name"),
        ({"vcpus": 4, "max_vcpus": 2}, "vcpus", "must be <= max_vcpus"),
        ({"vcpus": 0}, "vcpus", "must be >= 1"),
        ({"memory": "512K"}, "memory", "below the minimum of 1M"),
        ({"memory": "0"}, "memory", "below the minimum"),
        ({"memory": "lots"}, "memory", "is not a size"),
        ({"memory": "1000"}, "memory", "below the minimum"),
        ({"memory": "2G", "max_memory": "1G"}, "memory", "must be <= max_memory"),
        ({"max_memory": "1048577"}, "max_memory", "not a whole number of KiB"),
        (
            {"disks": [{"target": "vda", "path": "/a"}, {"target": "vda", "path": "/b"}]},
            "disks[1].target",
            "targets must be unique",
        ),
        ({"disks": [{"target": "xyz", "path": "/a"}]}, "disks[0].target", "is not a disk target"),
        ({"disks": [{"target": "vda"}]}, "disks[0]", "exactly one of rbd or path"),
        (
            {"disks": [{"target": "vda", "path": "/a", "rbd": {"pool": "p", "image": "i"}}]},
            "disks[0]",
            "exactly one of rbd or path",
        ),
        ({"disks": [{"target": "vda", "path": "rel"}]}, "disks[0].path", "must be an absolute path"),
        ({"disks": [{"target": "sda", "path": "/a", "bus": "virtio"}]}, "disks[0].bus", "need a vd* target"),
        (
            {"disks": [{"target": "vda", "rbd": {"pool": "p", "image": "i", "secret_uuid": "nope"}}]},
            "disks[0].rbd.secret_uuid",
            "is not a UUID",
        ),
        (
            {"disks": [{"target": "vda", "rbd": {"pool": "p", "image": "i", "hosts": ["h:99999"]}}]},
            "disks[0].rbd.hosts[0]",
            "out of range",
        ),
        ({"nics": [{"model": "virtio"}]}, "nics[0]", "one of bridge or ovn_port is required"),
        ({"nics": [{"bridge": "br0", "mac": "52:54:00:zz:00:01"}]}, "nics[0].mac", "is not a MAC address"),
        ({"nics": [{"bridge": "br0", "mac": "01:00:5e:00:00:01"}]}, "nics[0].mac", "multicast"),
        (
            {
                "nics": [
                    {"bridge": "br0", "mac": "52:54:00:00:00:01"},
                    {"bridge": "br1", "mac": "52:54:00:00:00:01"},
                ]
            },
            "nics[1].mac",
            "MACs must be unique",
        ),
        ({"nics": [{"bridge": "br0", "vlan": 4095}]}, "nics[0].vlan", "out of range 1-4094"),
        ({"nics": [{"ovn_port": "p", "vlan": 3}]}, "nics[0].vlan", "cannot be set with ovn_port"),
        ({"nics": [{"ovn_port": "p"}, {"ovn_port": "p"}]}, "nics", "used by two NICs"),
        ({"boot": {"cmdline": "x"}}, "boot.kernel", "is required when initrd or cmdline"),
        ({"boot": {"kernel": "vmlinuz"}}, "boot.kernel", "must be an absolute path"),
        ({"boot": {"dev": ["floppy"]}}, "boot.dev", "is not one of"),
    ],
)
def test_bad_input_names_option_and_rule(params, option, rule):
    with pytest.raises(ValidationError) as err:
        build(**params)
    assert err.value.option == option
    assert rule in err.value.rule
    assert str(err.value).startswith(f"{option}: ")


def test_absent_needs_only_a_name():
    params = {"name": "vm1", "state": "absent", "vcpus": 9, "max_vcpus": 1}
    assert specmod.build_spec(params) == {"name": "vm1"}
