"""ceph_pool against the real cluster: converge, reconcile, immutables, every bad input of issue 3."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, assert_fails, converge4, run, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.ceph_pool"


def pool_detail(cluster, name):
    return next((p for p in cluster.ceph("osd", "pool", "ls", "detail") if p["pool_name"] == name), None)


def rule_name(cluster, rule_id):
    return next(
        r["rule_name"] for r in cluster.ceph("osd", "crush", "rule", "dump") if r["rule_id"] == rule_id
    )


def snapshot(cluster):
    """Everything a failed task must leave as it was."""
    pools = {
        p["pool_name"]: {k: v for k, v in p.items() if k not in ("last_change", "create_time")}
        for p in cluster.ceph("osd", "pool", "ls", "detail")
    }
    return (
        pools,
        cluster.ceph("osd", "crush", "rule", "ls"),
        cluster.ceph("osd", "erasure-code-profile", "ls"),
    )


def test_replicated_pool_created_then_reconciled(ceph_cluster):
    opts = args(
        ceph_cluster,
        name="t-volumes",
        size=3,
        min_size=2,
        pg_num=16,
        pg_autoscale_mode="warn",
        target_size_ratio=0.2,
        application=["rbd"],
        quota_max_bytes="1G",
        quota_max_objects=1000,
    )
    runs = converge4(MOD, opts)
    assert runs["check"].result["commands"] == runs["apply"].result["commands"]  # check mode predicts
    assert runs["apply"].diff[0]["before"] == {} and runs["apply"].diff[0]["after"]["size"] == 3
    returned = runs["apply_again"].result["pool"]

    raw = pool_detail(ceph_cluster, "t-volumes")  # independent read through the CLI
    assert (raw["size"], raw["min_size"], raw["pg_num_target"]) == (3, 2, 16)
    assert raw["pg_autoscale_mode"] == "warn"
    assert raw["options"]["target_size_ratio"] == pytest.approx(0.2)
    assert list(raw["application_metadata"]) == ["rbd"]
    quota = ceph_cluster.ceph("osd", "pool", "get-quota", "t-volumes")
    assert (quota["quota_max_bytes"], quota["quota_max_objects"]) == (1024**3, 1000)
    assert returned["pool_id"] == raw["pool_id"] and returned["crush_rule"] == rule_name(
        ceph_cluster, raw["crush_rule"]
    )

    # Every mutable attribute moves, min_size included.
    ceph_cluster.ceph("osd", "crush", "rule", "create-replicated", "t-rule-osd", "default", "osd")
    opts.update(
        size=2,
        min_size=1,
        pg_num=32,
        pgp_num=32,
        pg_autoscale_mode="off",
        target_size_ratio=0.5,
        crush_rule="t-rule-osd",
        application=["rbd", "cephfs"],
        quota_max_bytes=0,
        quota_max_objects=0,
    )
    runs = converge4(MOD, opts)
    diff = runs["apply"].diff[0]
    assert diff["before"]["min_size"] == 2 and diff["after"]["min_size"] == 1
    raw = pool_detail(ceph_cluster, "t-volumes")
    assert (raw["size"], raw["min_size"], raw["pg_num_target"], raw["pg_placement_num_target"]) == (
        2,
        1,
        32,
        32,
    )
    assert raw["pg_autoscale_mode"] == "off"
    assert raw["options"]["target_size_ratio"] == pytest.approx(0.5)
    assert rule_name(ceph_cluster, raw["crush_rule"]) == "t-rule-osd"
    assert sorted(raw["application_metadata"]) == ["cephfs", "rbd"]
    assert (raw["quota_max_bytes"], raw["quota_max_objects"]) == (0, 0)

    # Deleting needs allow_delete.
    gone = args(ceph_cluster, name="t-volumes", state="absent", allow_delete=True)
    converge4(MOD, gone)
    assert pool_detail(ceph_cluster, "t-volumes") is None
    ceph_cluster.ceph("osd", "crush", "rule", "rm", "t-rule-osd")


def test_erasure_pool(ceph_cluster):
    ceph_cluster.ceph(
        "osd", "erasure-code-profile", "set", "t-ec21", "k=2", "m=1", "crush-failure-domain=host"
    )
    opts = args(
        ceph_cluster,
        name="t-ec",
        pool_type="erasure",
        erasure_profile="t-ec21",
        pg_num=8,
        min_size=2,
        application=["rgw"],
    )
    runs = converge4(MOD, opts)
    raw = pool_detail(ceph_cluster, "t-ec")
    assert raw["type"] == 3 and raw["erasure_code_profile"] == "t-ec21"
    assert (raw["size"], raw["min_size"]) == (3, 2)
    assert runs["apply_again"].result["pool"]["pool_type"] == "erasure"
    # the type of a pool is immutable: a clear failure, nothing touched
    before = snapshot(ceph_cluster)
    res = run(MOD, args(ceph_cluster, name="t-ec", pool_type="replicated"))
    assert_fails(res, "pool_type", "cannot change")
    assert snapshot(ceph_cluster) == before
    res = run(MOD, args(ceph_cluster, name="t-ec", pool_type="erasure", erasure_profile="default"))
    assert_fails(res, "erasure_profile", "cannot change")
    assert snapshot(ceph_cluster) == before
    run(MOD, args(ceph_cluster, name="t-ec", state="absent", allow_delete=True))
    ceph_cluster.ceph("osd", "erasure-code-profile", "rm", "t-ec21")


BAD_INPUT = [
    # (options, option named, rule fragment)
    ({"name": "t-bad", "size": 2, "min_size": 3}, "min_size", "min_size (3) must be <= size (2)"),
    ({"name": "t-bad", "size": 0}, "size", "must be >= 1"),
    ({"name": "t-bad", "crush_rule": "no-such-rule"}, "crush_rule", "'no-such-rule' does not exist"),
    (
        {"name": "t-bad", "pool_type": "erasure", "erasure_profile": "no-such-profile"},
        "erasure_profile",
        "'no-such-profile' does not exist",
    ),
    ({"name": "t-bad", "pool_type": "erasure", "size": 3}, "size", "do not set size with pool_type erasure"),
    # Ceph's own default profile is k=2 m=2: 4 chunks, 3 hosts.
    (
        {"name": "t-bad", "pool_type": "erasure"},
        "erasure_profile",
        "k+m=4 must be <= the number of host failure domains under root default (3)",
    ),
    ({"name": "t-existing", "min_size": 4}, "min_size", "min_size (4) must be <= size (3)"),
    ({"name": "t-existing", "state": "absent"}, "allow_delete", "needs allow_delete: true"),
]


@pytest.fixture(scope="module")
def bad_input_runs(ceph_cluster):
    """Every bad input in one playbook, in check mode then for real; the cluster read around it."""
    if pool_detail(ceph_cluster, "t-existing") is None:
        ceph_cluster.create_pool("t-existing", pg_num=8, application="rbd")
    before = snapshot(ceph_cluster)
    tasks = {f"bad-{i}": args(ceph_cluster, **options) for i, (options, _o, _r) in enumerate(BAD_INPUT)}
    runs = {"check": run_tasks(MOD, tasks, check=True), "apply": run_tasks(MOD, tasks)}
    return runs, before, snapshot(ceph_cluster)


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_INPUT)])
def test_bad_input_fails_and_touches_nothing(bad_input_runs, index):
    runs, before, after = bad_input_runs
    _options, option, rule = BAD_INPUT[index]
    for mode in ("check", "apply"):
        failed, msg, _res = runs[mode][f"bad-{index}"]
        assert failed, (mode, msg)
        assert msg.startswith(f"{option}:") and rule in msg, (mode, msg)
    assert after == before  # independent read: no pool, rule or profile changed
