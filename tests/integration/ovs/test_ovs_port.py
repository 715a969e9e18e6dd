"""ovs_port against the real ovsdb-server + ovs-vswitchd, verified with ovs-vsctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovs_port"


@pytest.fixture
def bridges(ovs):
    for br in ("br-p1", "br-p2"):
        ovs.vsctl("--may-exist", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
    yield ("br-p1", "br-p2")
    for br in ("br-p1", "br-p2"):
        ovs.vsctl("--if-exists", "del-br", br)


def _port(ovs, name):
    port = ovs.vsctl_json("--columns=name,vlan_mode,tag,trunks", "list", "Port", name)[0]
    iface = ovs.vsctl_json("--columns=type,options,external_ids,ofport", "list", "Interface", name)[0]
    return port, iface


def test_internal_access_port_lifecycle(ovs, bridges):
    args = {
        "bridge": "br-p1",
        "name": "int-p1",
        "type": "internal",
        "vlan_mode": "access",
        "tag": 100,
        "external_ids": {"iface-id": "lsp-1"},
    }
    runs = converge(M, args)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    assert runs["apply_again"]["port"] == {
        "bridge": "br-p1",
        "name": "int-p1",
        "type": "internal",
        "options": {},
        "vlan_mode": "access",
        "tag": 100,
        "trunks": [],
        "external_ids": {"iface-id": "lsp-1"},
    }
    port, iface = _port(ovs, "int-p1")
    assert port["tag"] == 100 and port["vlan_mode"] == "access"
    assert iface["type"] == "internal" and iface["external_ids"] == ["map", [["iface-id", "lsp-1"]]]
    assert isinstance(iface["ofport"], int) and iface["ofport"] > 0  # vswitchd created it
    assert ovs.vsctl("port-to-br", "int-p1").strip() == "br-p1"

    # Moved to another bridge, retagged as a trunk: one transaction.
    moved = dict(args, bridge="br-p2", vlan_mode="trunk", trunks=[20, 10])
    r = run_module(M, moved, check=True)
    assert r.changed and r.diff[0]["before"]["bridge"] == "br-p1" and r.diff[0]["after"]["bridge"] == "br-p2"
    assert ovs.vsctl("port-to-br", "int-p1").strip() == "br-p1"
    r = run_module(M, moved)
    assert r.changed and r["port"]["trunks"] == [10, 20]
    assert ovs.vsctl("port-to-br", "int-p1").strip() == "br-p2"
    assert "int-p1" not in ovs.vsctl("list-ports", "br-p1").split()
    assert not run_module(M, moved).changed

    runs = converge(M, {"name": "int-p1", "state": "absent"})
    assert runs["apply"].changed and not runs["apply_again"].changed
    assert "int-p1" not in ovs.vsctl("list-ports", "br-p2").split()


def test_tunnel_options_reconciled_after_creation(ovs, bridges):
    args = {
        "bridge": "br-p1",
        "name": "gnv-a",
        "type": "geneve",
        "options": {"remote_ip": "192.0.2.10", "key": "flow"},
    }
    runs = converge(M, args)
    assert runs["apply"].changed and not runs["apply_again"].changed
    _, iface = _port(ovs, "gnv-a")
    assert iface["type"] == "geneve"
    assert dict(iface["options"][1]) == {"remote_ip": "192.0.2.10", "key": "flow"}
    changed = dict(args, options={"remote_ip": "192.0.2.11"})
    r = run_module(M, changed)
    assert r.changed and r["port"]["options"] == {"remote_ip": "192.0.2.11"}
    _, iface = _port(ovs, "gnv-a")
    assert dict(iface["options"][1]) == {"remote_ip": "192.0.2.11"}
    assert not run_module(M, changed).changed


def test_patch_pair(ovs, bridges):
    for a, b, br in (("patch-a", "patch-b", "br-p1"), ("patch-b", "patch-a", "br-p2")):
        r = run_module(M, {"bridge": br, "name": a, "type": "patch", "options": {"peer": b}})
        assert r.changed and not r.failed
    assert ovs.vsctl("get", "Interface", "patch-a", "options:peer").strip().strip('"') == "patch-b"


BAD = [
    ({"bridge": "br-p1", "name": "bad-tag", "tag": 4096}, "tag", "outside 0..4095"),
    ({"bridge": "br-p1", "name": "bad-trunk", "trunks": [10, -1]}, "trunks", "outside 0..4095"),
    ({"bridge": "br-none", "name": "nobr"}, "bridge", "does not exist"),
    ({"bridge": "br-p1", "name": "vx", "type": "vxlan", "options": {"key": "1"}}, "options", "remote_ip"),
    ({"bridge": "br-p1", "name": "pp", "type": "patch"}, "options", "needs options"),
    ({"bridge": "br-p1", "name": "br-p2"}, "name", "is a bridge"),
    ({"name": "nobridge"}, "bridge", "required"),
]


def test_bad_input_fails_before_touching(ovs, bridges):
    def ours():
        return [ovs.vsctl("list-ports", br) for br in bridges], ovs.vsctl("--columns=name", "list", "Port")

    before = ours()
    results = run_cases(M, [args for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    # Other sessions may share the engine: compare our bridges, and check no case's port exists.
    after = ours()
    assert after[0] == before[0]
    assert not {f'"{args["name"]}"' for args, _, _ in BAD if args["name"] != "br-p2"} & set(after[1].split())


def test_many_ports_in_one_task(ovs, bridges):
    items = [{"bridge": "br-p1", "name": f"many{i}", "type": "internal", "tag": i + 1} for i in range(5)]
    runs = converge(M, {"ports": items})
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    assert [p["tag"] for p in runs["apply_again"]["ports"]] == [1, 2, 3, 4, 5]
    assert sorted(ovs.vsctl("list-ports", "br-p1").split()) == [f"many{i}" for i in range(5)]
    # A bad item refuses the whole batch, naming the item.
    r = run_module(M, {"ports": [*items, {"bridge": "br-p1", "name": "many9", "tag": 5000}]})
    assert r.failed and r.msg.startswith("items[5].tag:")
    assert "many9" not in ovs.vsctl("list-ports", "br-p1")
    runs = converge(M, {"ports": [{"name": i["name"], "state": "absent"} for i in items]})
    assert runs["apply"].changed and ovs.vsctl("list-ports", "br-p1").split() == []
