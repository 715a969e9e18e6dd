"""Smoke test of the Ceph fixture: a healthy cluster, 3 OSDs up and in, a size-3 pool active+clean."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ceph

# Health checks that may show up on this one-machine test cluster and say nothing about its
# health. Empty on purpose: the fixture's ceph.conf removes the usual suspects at their cause
# (insecure global_id reclaim refused, no-redundancy warning off for a one-mon cluster, free-space
# thresholds of the shared VM disk lowered). Anything that appears here must say why.
HARMLESS_CHECKS: dict[str, str] = {}


def test_three_osds_up_and_in(ceph_cluster):
    stat = ceph_cluster.ceph("osd", "stat")
    assert stat["num_osds"] == 3
    assert stat["num_up_osds"] == 3
    assert stat["num_in_osds"] == 3


def test_each_osd_under_its_own_host(ceph_cluster):
    tree = ceph_cluster.ceph("osd", "tree")
    hosts = {n["name"]: n["children"] for n in tree["nodes"] if n["type"] == "host"}
    assert sorted(hosts) == ["osd-host-0", "osd-host-1", "osd-host-2"]
    assert all(len(children) == 1 for children in hosts.values())


def test_size3_pool_active_clean_and_health_ok(ceph_cluster):
    ceph_cluster.create_pool("smoke-rbd", pg_num=8, application="rbd")
    pool = next(p for p in ceph_cluster.ceph("osd", "pool", "ls", "detail") if p["pool_name"] == "smoke-rbd")
    assert pool["size"] == 3 and pool["min_size"] == 2
    rules = ceph_cluster.ceph("osd", "crush", "rule", "dump")
    rule = next(r for r in rules if r["rule_id"] == pool["crush_rule"])
    assert any(step.get("type") == "host" for step in rule["steps"])  # failure domain host
    pg = ceph_cluster.ceph("pg", "stat")["pg_summary"]
    assert pg["num_pgs"] > 0
    assert [s["name"] for s in pg["num_pg_by_state"]] == ["active+clean"]

    health = ceph_cluster.ceph("health", "detail")
    unexpected = {k: v["summary"]["message"] for k, v in health["checks"].items() if k not in HARMLESS_CHECKS}
    assert not unexpected, unexpected
    assert health["status"] == "HEALTH_OK" or set(health["checks"]) <= set(HARMLESS_CHECKS)
    # the pool is usable: an RBD image in it
    ceph_cluster.rbd("create", "--size", "16M", "smoke-rbd/img", json_out=False)
    assert ceph_cluster.rbd("info", "smoke-rbd/img")["size"] == 16 * 1024**2
    ceph_cluster.rbd("rm", "smoke-rbd/img", json_out=False)
    ceph_cluster.ceph("osd", "pool", "rm", "smoke-rbd", "smoke-rbd", "--yes-i-really-really-mean-it")
