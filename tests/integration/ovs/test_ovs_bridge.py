"""ovs_bridge against the real ovsdb-server + ovs-vswitchd, verified with ovs-vsctl."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovs_bridge"


def test_bridge_created_updated_and_removed(ovs):
    args = {
        "name": "br-t1",
        "datapath_type": "netdev",
        "fail_mode": "secure",
        "protocols": ["OpenFlow13", "OpenFlow10"],
        "external_ids": {"owner": "test"},
    }
    runs = converge(M, args)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    assert runs["check"].diff[0]["before"] == {}
    assert runs["apply"]["bridge"] == runs["apply_again"]["bridge"]
    row = ovs.vsctl_json(
        "--columns=name,datapath_type,fail_mode,protocols,external_ids", "list", "Bridge", "br-t1"
    )[0]
    assert row["datapath_type"] == "netdev" and row["fail_mode"] == "secure"
    assert row["protocols"] == ["set", ["OpenFlow10", "OpenFlow13"]]
    assert row["external_ids"] == ["map", [["owner", "test"]]]
    # ovs-vswitchd applied it: the bridge has a datapath and its local port.
    assert "br-t1" in ovs.ofctl("-O", "OpenFlow13", "show", "br-t1")

    # A change: check mode predicts it, diff shows it, nothing else moves.
    change = dict(args, fail_mode="standalone", external_ids={"owner": None, "k": "v"})
    r = run_module(M, change, check=True)
    assert r.changed and r["bridge"]["fail_mode"] == "standalone"
    assert ovs.vsctl("get", "Bridge", "br-t1", "fail_mode").strip() == "secure"
    r = run_module(M, change)
    assert r.changed and r.diff[0]["before"]["fail_mode"] == "secure"
    assert r.diff[0]["after"]["external_ids"] == {"k": "v"}
    assert ovs.vsctl("get", "Bridge", "br-t1", "fail_mode").strip() == "standalone"
    assert not run_module(M, change).changed

    absent = {"name": "br-t1", "state": "absent"}
    runs = converge(M, absent)
    assert runs["check"].changed and runs["apply"].changed and not runs["apply_again"].changed
    assert "br-t1" not in ovs.vsctl("list-br").split()


def test_external_ids_written_by_others_are_kept(ovs):
    run_module(M, {"name": "br-t2", "datapath_type": "netdev"})
    ovs.vsctl("set", "Bridge", "br-t2", "external_ids:ct-zone-x=5")
    r = run_module(M, {"name": "br-t2", "external_ids": {"mine": "1"}})
    assert r.changed and r["bridge"]["external_ids"] == {"ct-zone-x": "5", "mine": "1"}
    assert not run_module(M, {"name": "br-t2", "external_ids": {"mine": "1"}}).changed
    run_module(M, {"name": "br-t2", "state": "absent"})


BAD = [
    ({"name": "a-bridge-name-too-long"}, "name", "not a valid bridge name"),
    ({"name": "br-bad", "protocols": ["OpenFlow99"]}, "protocols", "OpenFlow99"),
]


def test_bad_input_fails_before_touching(ovs):
    results = run_cases(M, [args for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert all(r.result["option"] == option for r, (_, option, _) in zip(results, BAD, strict=True))
    # Nothing was created (other sessions may share the engine: look at our names only).
    assert not {args["name"] for args, _, _ in BAD} & set(ovs.vsctl("list-br").split())
