"""ceph_mon_member against the real cluster (one monitor, "a"): kept, never removed when it is the
last one, a monitor not in the map left alone. The removal of a running monitor from a map of three
is `expand`'s drill (remove_node.yml on its lab, molecule/expand), where there are three."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, converge_noop, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.ceph_mon_member"


def test_monitor_kept_and_an_absent_one_left_alone(ceph_cluster):
    runs = converge_noop(MOD, args(ceph_cluster, name="a", state="present"))
    assert runs["apply"].result["monitor"] == {
        "name": "a",
        "in_map": True,
        "in_quorum": True,
        "monitors": ["a"],
        "quorum": ["a"],
    }
    runs = converge_noop(MOD, args(ceph_cluster, name="t-gone", state="absent"))
    assert runs["apply"].result["monitor"]["in_map"] is False and runs["apply"].result["commands"] == []


def test_refusals_change_nothing(ceph_cluster):
    epoch = ceph_cluster.ceph("mon", "dump")["epoch"]
    out = run_tasks(
        MOD,
        {
            "last monitor": args(ceph_cluster, name="a", state="absent"),
            "not a member": args(ceph_cluster, name="t-never", state="present"),
            "bad name": args(ceph_cluster, name="bad/name", state="absent"),
        },
    )
    for task, option, words in (
        ("last monitor", "state", "only monitor of the cluster"),
        ("not a member", "name", "not in the monitor map"),
        ("bad name", "name", "is not a monitor name"),
    ):
        failed, msg, _res = out[task]
        assert failed and msg.startswith(f"{option}:") and words in msg, (task, msg)
    dump = ceph_cluster.ceph("mon", "dump")
    assert dump["epoch"] == epoch and [m["name"] for m in dump["mons"]] == ["a"]
