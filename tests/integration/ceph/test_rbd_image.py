"""rbd_image against the real cluster: create, grow in place, shrink only on request, features."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, assert_fails, converge4, run, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.rbd_image"
MiB = 1024**2


@pytest.fixture(scope="module")
def rbd_pool(ceph_cluster):
    ceph_cluster.create_pool("t-rbd", pg_num=8, application="rbd")
    yield "t-rbd"
    ceph_cluster.ceph("osd", "pool", "rm", "t-rbd", "t-rbd", "--yes-i-really-really-mean-it")


def info(cluster, pool, name):
    return cluster.rbd("info", f"{pool}/{name}")


def test_image_lifecycle(ceph_cluster, rbd_pool):
    runs = converge4(MOD, args(ceph_cluster, pool=rbd_pool, name="disk1", size="64M"))
    raw = info(ceph_cluster, rbd_pool, "disk1")
    assert raw["size"] == 64 * MiB
    image = runs["apply_again"].result["image"]
    assert image["size"] == 64 * MiB and image["features"] == sorted(raw["features"])
    assert image["watchers"] == []

    # Grows in place: same image id, data kept.
    ceph_cluster._run(["rados", "-c", ceph_cluster.conf, "-p", rbd_pool, "ls"])
    runs = converge4(MOD, args(ceph_cluster, pool=rbd_pool, name="disk1", size=128 * MiB))
    assert (
        runs["apply"].diff[0]["before"]["size"] == 64 * MiB
        and runs["apply"].diff[0]["after"]["size"] == 128 * MiB
    )
    grown = info(ceph_cluster, rbd_pool, "disk1")
    assert grown["size"] == 128 * MiB and grown["id"] == raw["id"]

    # Shrinking without allow_shrink: refused, untouched; with it: done.
    res = run(MOD, args(ceph_cluster, pool=rbd_pool, name="disk1", size="32M"))
    assert_fails(res, "size", "needs allow_shrink: true")
    assert info(ceph_cluster, rbd_pool, "disk1")["size"] == 128 * MiB
    converge4(MOD, args(ceph_cluster, pool=rbd_pool, name="disk1", size="32M", allow_shrink=True))
    assert info(ceph_cluster, rbd_pool, "disk1")["size"] == 32 * MiB

    # Features: object-map and fast-diff off, in dependency order.
    converge4(
        MOD,
        args(
            ceph_cluster,
            pool=rbd_pool,
            name="disk1",
            size="32M",
            features=["layering", "exclusive-lock", "deep-flatten"],
        ),
    )
    assert sorted(info(ceph_cluster, rbd_pool, "disk1")["features"]) == [
        "deep-flatten",
        "exclusive-lock",
        "layering",
    ]

    converge4(MOD, args(ceph_cluster, pool=rbd_pool, name="disk1", state="absent"))
    assert "disk1" not in ceph_cluster.rbd("ls", rbd_pool)


def test_image_with_explicit_features(ceph_cluster, rbd_pool):
    res = run(MOD, args(ceph_cluster, pool=rbd_pool, name="disk2", size="1G", features=["layering"]))
    assert res.changed and not res.failed, res.result
    raw = info(ceph_cluster, rbd_pool, "disk2")
    assert raw["features"] == ["layering"] and raw["size"] == 1024**3
    ceph_cluster.rbd("rm", f"{rbd_pool}/disk2", json_out=False)


BAD_INPUT = [
    ({"name": "t-bad", "size": "10Q"}, "size", "'10Q' has an unknown unit 'Q'"),
    ({"name": "t-bad", "size": -1}, "size", "-1 must be >= 1 bytes"),
    ({"name": "t-bad", "size": "-1"}, "size", "'-1' is not a size"),
    ({"name": "t-bad"}, "size", "is required when state is present"),
    (
        {"name": "t-bad", "size": "1G", "features": ["warp-drive"]},
        "features",
        "unknown feature(s) warp-drive",
    ),
    ({"name": "t-bad", "size": "1G", "features": ["fast-diff"]}, "features", "fast-diff requires object-map"),
    ({"name": "t-bad", "size": "1G", "pool": "no-such-pool"}, "pool", "pool 'no-such-pool' does not exist"),
    ({"name": "t-keep", "size": "4M"}, "size", "needs allow_shrink: true"),
    (
        {"name": "t-keep", "size": "8M", "features": ["exclusive-lock"]},
        "features",
        "layering cannot be changed on an existing image",
    ),
]


def test_bad_input_fails_and_touches_nothing(ceph_cluster, rbd_pool):
    ceph_cluster.rbd(
        "create", "--size", "8M", f"{rbd_pool}/t-keep", "--image-feature", "layering", json_out=False
    )
    before = (ceph_cluster.rbd("ls", rbd_pool), info(ceph_cluster, rbd_pool, "t-keep"))
    tasks = {
        f"bad-{i}": args(ceph_cluster, **{"pool": rbd_pool, **o})
        for i, (o, _opt, _rule) in enumerate(BAD_INPUT)
    }
    for check in (True, False):
        results = run_tasks(MOD, tasks, check=check)
        for i, (_o, option, rule) in enumerate(BAD_INPUT):
            failed, msg, _ = results[f"bad-{i}"]
            assert failed and msg.startswith(f"{option}:") and rule in msg, msg
    assert (ceph_cluster.rbd("ls", rbd_pool), info(ceph_cluster, rbd_pool, "t-keep")) == before
