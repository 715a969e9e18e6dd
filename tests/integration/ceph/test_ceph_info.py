"""ceph_info against the real cluster: the same facts as the CLI reads."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, run

pytestmark = pytest.mark.ceph


def test_info_matches_cli(ceph_cluster):
    ceph_cluster.create_pool("t-info", pg_num=8, application="rbd")
    ceph_cluster.rbd("create", "--size", "4M", "t-info/img", json_out=False)
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
    df = next(p for p in ceph_cluster.ceph("df")["pools"] if p["name"] == "t-info")
    assert pool["usage"]["objects"] == df["stats"]["objects"] > 0
    assert res["mon_round_trips"] == 4
    ceph_cluster.ceph("osd", "pool", "rm", "t-info", "t-info", "--yes-i-really-really-mean-it")
