"""ceph_osd_host against the real cluster: a node's OSDs drained and taken back, a node purged from
the maps, a purge refused while an OSD of the node is up."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, assert_fails, converge4, run, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.ceph_osd_host"


def _osd_in(cluster, osd_id):
    return next(o for o in cluster.ceph("osd", "dump")["osds"] if o["osd"] == osd_id)["in"]


def _host_settings(cluster, name):
    return sorted(
        e["name"]
        for e in cluster.ceph("config", "dump")
        if e.get("section") == "osd" and e.get("location_value") == name
    )


def test_node_drained_and_taken_back_never_purged_while_up(ceph_cluster):
    host = "osd-host-2"
    (osd_id,) = ceph_cluster.ceph("osd", "ls-tree", host)
    try:
        runs = converge4(MOD, args(ceph_cluster, name=host, state="out"))
        assert (
            runs["check"].result["commands"]
            == runs["apply"].result["commands"]
            == [{"prefix": "osd out", "ids": [str(osd_id)]}]
        )
        assert runs["apply"].result["host"]["osds"] == [{"id": osd_id, "up": True, "in": False}]
        assert _osd_in(ceph_cluster, osd_id) == 0

        # Purging an up OSD is refused, naming it; the maps are as they were.
        res = run(MOD, args(ceph_cluster, name=host, state="absent"))
        assert_fails(res, "state", f"osd.{osd_id}", "stop their daemons first")
        assert ceph_cluster.ceph("osd", "ls-tree", host) == [osd_id]
    finally:
        back = run(MOD, args(ceph_cluster, name=host, state="in"))
    assert back.changed and back.result["commands"] == [{"prefix": "osd in", "ids": [str(osd_id)]}]
    assert _osd_in(ceph_cluster, osd_id) == 1
    assert not run(MOD, args(ceph_cluster, name=host, state="in")).changed


def test_node_purged_from_the_maps(ceph_cluster):
    """A node whose OSD daemons are stopped: its OSDs purged (through the manager, as `ceph osd
    purge` does), then its host bucket and its osd/host settings removed."""
    # An OSD id with no daemon (down, weight 0, so no data) under a host bucket of its own.
    osd_id = ceph_cluster.ceph("osd", "create")["osdid"]
    ceph_cluster.ceph("osd", "crush", "add", f"osd.{osd_id}", "0", "host=t-gone", "root=default")
    ceph_cluster.ceph("config", "set", "osd/host:t-gone", "osd_memory_target", "1073741824")
    assert _host_settings(ceph_cluster, "t-gone") == ["osd_memory_target"]

    runs = converge4(MOD, args(ceph_cluster, name="t-gone", state="absent"))
    assert (
        runs["check"].result["commands"]
        == runs["apply"].result["commands"]
        == [
            {"prefix": "osd purge", "id": osd_id, "yes_i_really_mean_it": True},
            {"prefix": "osd crush remove", "name": "t-gone"},
            {"prefix": "config rm", "who": "osd/host:t-gone", "name": "osd_memory_target"},
        ]
    )
    assert (
        runs["check"].result["host"]
        == runs["apply"].result["host"]
        == {"name": "t-gone", "bucket": False, "osds": [], "settings": []}
    )
    names = {n["name"] for n in ceph_cluster.ceph("osd", "tree")["nodes"]}
    assert "t-gone" not in names and f"osd.{osd_id}" not in names
    assert osd_id not in [o["osd"] for o in ceph_cluster.ceph("osd", "dump")["osds"]]
    assert _host_settings(ceph_cluster, "t-gone") == []


def test_bad_input_refused_before_anything(ceph_cluster):
    before = ceph_cluster.ceph("osd", "dump")["epoch"]
    out = run_tasks(
        MOD,
        {
            "bad name": args(ceph_cluster, name="no such/host", state="out"),
            "no bucket": args(ceph_cluster, name="t-never-there", state="in"),
        },
    )
    for task, words in (("bad name", "is not a CRUSH host name"), ("no bucket", "no CRUSH host bucket")):
        failed, msg, _res = out[task]
        assert failed and msg.startswith("name:") and words in msg, msg
    assert ceph_cluster.ceph("osd", "dump")["epoch"] == before
    # Draining a node that is not in the map (purged by an earlier run) has nothing to do.
    gone = run(MOD, args(ceph_cluster, name="t-never-there", state="out"))
    assert not gone.changed and gone.result["host"]["bucket"] is False and gone.result["commands"] == []
