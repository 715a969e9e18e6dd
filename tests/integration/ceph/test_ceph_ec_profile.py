"""ceph_ec_profile against the real cluster: defaults normalised, topology checked, used profiles frozen."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, assert_fails, converge4, run, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.ceph_ec_profile"


def profile_get(cluster, name):
    return cluster.ceph("osd", "erasure-code-profile", "get", name)


def test_profile_lifecycle(ceph_cluster):
    runs = converge4(MOD, args(ceph_cluster, name="t-ec", k=2, m=1))
    raw = profile_get(ceph_cluster, "t-ec")
    assert (raw["k"], raw["m"], raw["plugin"], raw["crush-failure-domain"]) == ("2", "1", "jerasure", "host")
    assert runs["apply_again"].result["profile"]["technique"] == "reed_sol_van"
    # The defaults Ceph filled in, now written out: still nothing to do.
    explicit = args(
        ceph_cluster,
        name="t-ec",
        k=2,
        m=1,
        plugin="jerasure",
        technique="reed_sol_van",
        crush_root="default",
        crush_failure_domain="host",
    )
    for check in (True, False):
        res = run(MOD, explicit, check=check)
        assert not res.failed and not res.changed, res.result

    # Unused: a change is applied.
    runs = converge4(MOD, dict(explicit, m=1, crush_failure_domain="osd", crush_device_class="hdd"))
    assert runs["apply"].diff[0]["before"]["crush_failure_domain"] == "host"
    raw = profile_get(ceph_cluster, "t-ec")
    assert (raw["crush-failure-domain"], raw["crush-device-class"]) == ("osd", "hdd")

    # Used by a pool: frozen, the failure names the pool.
    ceph_cluster.ceph("osd", "pool", "create", "t-ec-user", "8", "8", "erasure", "t-ec")
    res = run(MOD, dict(explicit, crush_failure_domain="host"))
    assert_fails(res, "crush_failure_domain", "used by pool(s) t-ec-user")
    assert profile_get(ceph_cluster, "t-ec")["crush-failure-domain"] == "osd"
    res = run(MOD, args(ceph_cluster, name="t-ec", state="absent"))
    assert_fails(res, "state", "used by pool(s) t-ec-user")
    ceph_cluster.ceph("osd", "pool", "rm", "t-ec-user", "t-ec-user", "--yes-i-really-really-mean-it")
    converge4(MOD, args(ceph_cluster, name="t-ec", state="absent"))
    assert "t-ec" not in ceph_cluster.ceph("osd", "erasure-code-profile", "ls")


BAD_INPUT = [
    (
        {"name": "t-bad", "k": 2, "m": 2},
        "k",
        "k+m=4 must be <= the number of host failure domains under root default (3)",
    ),
    ({"name": "t-bad", "k": 1, "m": 1}, "k", "must be >= 2"),
    ({"name": "t-bad", "k": 2, "m": 0}, "m", "must be >= 1"),
    ({"name": "t-bad", "k": 2}, "m", "is required when state is present"),
    (
        {"name": "t-bad", "k": 2, "m": 1, "technique": "cauchy", "plugin": "shec"},
        "technique",
        "'cauchy' is not a technique of plugin shec",
    ),
    ({"name": "t-bad", "k": 2, "m": 1, "crush_root": "nowhere"}, "crush_root", "'nowhere' does not exist"),
    (
        {"name": "t-bad", "k": 2, "m": 1, "crush_device_class": "ssd"},
        "crush_device_class",
        "device class 'ssd' does not exist (known: hdd)",
    ),
]


def test_bad_input_fails_and_touches_nothing(ceph_cluster):
    before = ceph_cluster.ceph("osd", "erasure-code-profile", "ls")
    tasks = {f"bad-{i}": args(ceph_cluster, **o) for i, (o, _opt, _rule) in enumerate(BAD_INPUT)}
    for check in (True, False):
        results = run_tasks(MOD, tasks, check=check)
        for i, (_o, option, rule) in enumerate(BAD_INPUT):
            failed, msg, _ = results[f"bad-{i}"]
            assert failed and msg.startswith(f"{option}:") and rule in msg, msg
    assert ceph_cluster.ceph("osd", "erasure-code-profile", "ls") == before
