import pytest
from ansible_collections.scloud.stack.plugins.module_utils._ceph import pool
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

from tests.unit.plugins.module_utils._ceph._samples import crush, raw_pool

BASE = {"name": "volumes", "state": "present", "pool_type": "replicated"}


def params(**over):
    p = {
        k: None
        for k in (
            "size",
            "min_size",
            "pg_num",
            "pgp_num",
            "pg_autoscale_mode",
            "target_size_ratio",
            "crush_rule",
            "erasure_profile",
            "application",
            "quota_max_bytes",
            "quota_max_objects",
        )
    }
    p.update(BASE, allow_delete=False)
    p.update(over)
    return p


def test_normalise_uses_targets_rule_names_and_sorted_apps():
    raw = raw_pool(
        crush_rule=1, options={"target_size_ratio": 0.25}, application_metadata={"rgw": {}, "cephfs": {}}
    )
    got = pool.normalise_pool(raw, crush())
    assert got["pg_num"] == 16 and got["pgp_num"] == 16  # targets, not the transient counts
    assert got["crush_rule"] == "ssd-rack"
    assert got["application"] == ["cephfs", "rgw"]
    assert got["target_size_ratio"] == 0.25 and got["erasure_profile"] is None


def test_desired_parses_sizes_and_dedups_apps():
    d = pool.desired_pool(params(quota_max_bytes="10G", application=["rbd", "rbd"], target_size_ratio=0.1))
    assert d["quota_max_bytes"] == 10 * 1024**3 and d["application"] == ["rbd"] and d["size"] is None


@pytest.mark.parametrize(
    ("over", "option", "rule"),
    [
        ({"size": 2, "min_size": 3}, "min_size", "min_size (3) must be <= size (2)"),
        ({"size": 0}, "size", "must be >= 1"),
        ({"size": 11}, "size", "must be <= 10"),
        ({"min_size": 0}, "min_size", "must be >= 1"),
        ({"pg_num": 0}, "pg_num", "must be >= 1"),
        ({"pg_num": 8, "pgp_num": 16}, "pgp_num", "pgp_num (16) must be <= pg_num (8)"),
        ({"target_size_ratio": -0.1}, "target_size_ratio", "must be >= 0"),
        ({"quota_max_bytes": "10Q"}, "quota_max_bytes", "unknown unit"),
        ({"quota_max_objects": -1}, "quota_max_objects", "must be >= 0"),
        ({"pool_type": "erasure", "size": 3}, "size", "do not set size with pool_type erasure"),
        ({"erasure_profile": "p"}, "erasure_profile", "only a pool with pool_type erasure"),
        ({"name": ""}, "name", "must not be empty"),
    ],
)
def test_validate_params_rejects(over, option, rule):
    with pytest.raises(ValidationError) as err:
        pool.validate_params(params(**over))
    assert err.value.option == option and rule in err.value.msg


def test_validate_params_accepts_absent_without_sizes():
    pool.validate_params(params(state="absent", size=0))


EC = {
    "name": "ec21",
    "k": 2,
    "m": 1,
    "plugin": "jerasure",
    "technique": "reed_sol_van",
    "crush_root": "default",
    "crush_failure_domain": "host",
    "crush_device_class": None,
}


@pytest.mark.parametrize(
    ("desired_over", "current", "profile", "option", "rule"),
    [
        ({"crush_rule": "nope"}, None, None, "crush_rule", "'nope' does not exist"),
        ({"crush_rule": "ec"}, None, None, "crush_rule", "is of type erasure but the pool is replicated"),
        ({"pool_type": "erasure"}, "replicated", EC, "pool_type", "cannot change"),
        ({"min_size": 4}, "replicated", None, "min_size", "min_size (4) must be <= size (3)"),
        (
            {"pool_type": "erasure", "erasure_profile": "x"},
            None,
            None,
            "erasure_profile",
            "'x' does not exist",
        ),
        ({"pool_type": "erasure"}, None, dict(EC, k=3, m=1), "erasure_profile", "k+m=4 must be <="),
        ({"pool_type": "erasure", "min_size": 1}, None, EC, "min_size", "between k (2) and k+m (3)"),
    ],
)
def test_validate_against_cluster(desired_over, current, profile, option, rule):
    desired = pool.desired_pool(params(**desired_over))
    cur = pool.normalise_pool(raw_pool(), crush()) if current else None
    with pytest.raises(ValidationError) as err:
        pool.validate_against_cluster(desired, cur, crush(), profile)
    assert err.value.option == option and rule in err.value.msg


def test_plan_changes_orders_size_first_and_reconciles_apps_and_quotas():
    current = pool.normalise_pool(raw_pool(), crush())
    desired = pool.desired_pool(
        params(
            size=4, min_size=3, pg_num=32, crush_rule="ssd-rack", application=["rgw"], quota_max_objects=10
        )
    )
    cmds = pool.plan_changes("volumes", current, desired)
    assert [(c["prefix"], c.get("var") or c.get("field") or c.get("app")) for c in cmds] == [
        ("osd pool set", "size"),
        ("osd pool set", "min_size"),
        ("osd pool set", "pg_num"),
        ("osd pool set", "crush_rule"),
        ("osd pool set-quota", "max_objects"),
        ("osd pool application enable", "rgw"),
        ("osd pool application disable", "rbd"),
    ]


def test_plan_changes_noop_when_equal_or_unmanaged():
    current = pool.normalise_pool(raw_pool(), crush())
    assert pool.plan_changes("volumes", current, pool.desired_pool(params())) == []
    same = params(
        size=3,
        min_size=2,
        pg_num=16,
        pgp_num=16,
        crush_rule="replicated_rule",
        application=["rbd"],
        pg_autoscale_mode="off",
        target_size_ratio=0.0,
        quota_max_bytes=0,
        quota_max_objects=0,
    )
    assert pool.plan_changes("volumes", current, pool.desired_pool(same)) == []


def test_creation_commands_depend_on_options_only():
    d = pool.desired_pool(
        params(
            size=3, min_size=2, pg_num=16, pg_autoscale_mode="warn", application=["rbd"], quota_max_bytes="1G"
        )
    )
    cmds = pool.creation_commands("v", d)
    assert cmds[0] == {
        "prefix": "osd pool create",
        "pool": "v",
        "pool_type": "replicated",
        "pg_num": 16,
        "pgp_num": 16,
        "size": 3,
        "autoscale_mode": "warn",
    }
    assert [c["prefix"] for c in cmds[1:]] == [
        "osd pool set",
        "osd pool set-quota",
        "osd pool application enable",
    ]
    ec = pool.creation_commands("e", pool.desired_pool(params(pool_type="erasure")))
    assert ec == [
        {"prefix": "osd pool create", "pool": "e", "pool_type": "erasure", "erasure_code_profile": "default"}
    ]
