"""ceph_info against the real cluster: the same facts as the CLI reads."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, run

pytestmark = pytest.mark.ceph


def test_info_matches_cli(ceph_cluster):
    ceph_cluster.create_pool("t-info", pg_num=8, application="rbd")
    ceph_cluster.rbd("create", "--size", "4M", "t-info/img", json_out=False)

    def df_objects():
        return next(p for p in ceph_cluster.ceph("df")["pools"] if p["name"] == "t-info")["stats"]["objects"]

    # usage comes from the mgr's PG stats, refreshed every few seconds: wait until they show the image
    ceph_cluster.wait_for(lambda: df_objects() > 0, timeout=90, what="pool usage in ceph df")
    for check in (True, False):
        res = run("scloud.stack.ceph_info", args(ceph_cluster), check=check)
        assert not res.failed and not res.changed, res.result
    status = ceph_cluster.ceph("status")
    assert res["fsid"] == status["fsid"]
    assert res["health"]["status"] == status["health"]["status"]
    assert res["mons"]["quorum"] == status["quorum_names"] == ["a"]
    assert res["osds"] == {"total": 3, "up": 3, "in": 3}
    pool = next(p for p in res["pools"] if p["name"] == "t-info")
    assert pool["size"] == 3 and pool["application"] == ["rbd"]
    assert 0 < pool["usage"]["objects"] <= df_objects()  # objects only grow here
    assert res["mon_round_trips"] == 4
    ceph_cluster.ceph("osd", "pool", "rm", "t-info", "t-info", "--yes-i-really-really-mean-it")
