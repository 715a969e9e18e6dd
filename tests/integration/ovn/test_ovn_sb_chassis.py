"""ovn_sb_chassis against the real OVN Southbound database: a chassis record a removed node left
behind (Chassis, its Encap, Chassis_Private) deleted in one transaction, verified with ovn-sbctl.
The session's own chassis (ovn-controller's) is never touched."""

from __future__ import annotations

import pytest

from tests.harness import assert_refused, converge, run_cases

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_sb_chassis"


def _names(ovn, table):
    return {r["name"] for r in ovn.sb_json("--columns=name", "list", table)}


def test_leftover_chassis_removed(ovn):
    ovn.sbctl("chassis-add", "t-gone", "geneve", "192.0.2.9")
    ovn.sbctl("create", "Chassis_Private", "name=t-gone")
    encaps = len(ovn.sb_json("--columns=ip", "list", "Encap"))
    runs = converge(M, {"name": "t-gone", "ovsdb_remote": ovn.sb}, diff=True)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    assert runs["check"].diff[0]["before"] == {
        "name": "t-gone",
        "hostname": "",
        "encaps": ["geneve:192.0.2.9"],
        "private": True,
    }
    assert runs["apply"]["chassis"] == {}
    assert "t-gone" not in _names(ovn, "Chassis") | _names(ovn, "Chassis_Private")
    assert len(ovn.sb_json("--columns=ip", "list", "Encap")) == encaps - 1
    assert ovn.chassis in _names(ovn, "Chassis")


def test_bad_input_refused(ovn):
    before = _names(ovn, "Chassis")
    results = run_cases(M, [{"name": "bad name", "ovsdb_remote": ovn.sb}])
    assert_refused(results, [("name", "is not a chassis name")])
    assert _names(ovn, "Chassis") == before
