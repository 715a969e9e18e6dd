"""ceph_crush_rule against the real cluster: create, report differences, replace only when unused."""

from __future__ import annotations

import pytest

from tests.integration.ceph._util import args, assert_fails, converge4, run, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.ceph_crush_rule"


def rule_dump(cluster, name):
    return next((r for r in cluster.ceph("osd", "crush", "rule", "dump") if r["rule_name"] == name), None)


def take_and_domain(rule):
    take = next(s["item_name"] for s in rule["steps"] if s["op"] == "take")
    domain = next(s["type"] for s in rule["steps"] if s["op"].startswith("choose"))
    return take, domain


def test_replicated_rule_lifecycle(ceph_cluster):
    opts = args(ceph_cluster, name="t-hdd-host", failure_domain="host", device_class="hdd")
    runs = converge4(MOD, opts)
    assert runs["check"].result["commands"] == runs["apply"].result["commands"]
    raw = rule_dump(ceph_cluster, "t-hdd-host")
    assert raw["type"] == 1 and take_and_domain(raw) == ("default~hdd", "host")
    assert runs["apply_again"].result["rule"]["device_class"] == "hdd"

    # Other parameters: reported precisely, nothing replaced without replace: true.
    other = dict(opts, failure_domain="osd", device_class=None)
    res = run(MOD, other)
    assert_fails(res, "replace", "failure_domain: 'host' -> 'osd'", "device_class: 'hdd' -> None")
    assert take_and_domain(rule_dump(ceph_cluster, "t-hdd-host")) == ("default~hdd", "host")

    # Used by a pool: never replaced, even when asked.
    ceph_cluster.ceph("osd", "pool", "create", "t-rule-user", "8", "8", "replicated", "t-hdd-host")
    res = run(MOD, dict(other, replace=True))
    assert_fails(res, "replace", "used by pool(s) t-rule-user")
    assert take_and_domain(rule_dump(ceph_cluster, "t-hdd-host")) == ("default~hdd", "host")
    res = run(MOD, args(ceph_cluster, name="t-hdd-host", state="absent"))
    assert_fails(res, "state", "used by pool(s) t-rule-user")
    ceph_cluster.ceph("osd", "pool", "rm", "t-rule-user", "t-rule-user", "--yes-i-really-really-mean-it")

    # Unused and asked for: replaced.
    converge4(MOD, dict(other, replace=True))
    assert take_and_domain(rule_dump(ceph_cluster, "t-hdd-host")) == ("default", "osd")

    converge4(MOD, args(ceph_cluster, name="t-hdd-host", state="absent"))
    assert rule_dump(ceph_cluster, "t-hdd-host") is None


def test_erasure_rule_from_profile(ceph_cluster):
    ceph_cluster.ceph("osd", "erasure-code-profile", "set", "t-rule-ec", "k=2", "m=1")
    converge4(MOD, args(ceph_cluster, name="t-ec-rule", rule_type="erasure", profile="t-rule-ec"))
    raw = rule_dump(ceph_cluster, "t-ec-rule")
    assert raw["type"] == 3 and take_and_domain(raw) == ("default", "host")
    converge4(MOD, args(ceph_cluster, name="t-ec-rule", state="absent"))
    ceph_cluster.ceph("osd", "erasure-code-profile", "rm", "t-rule-ec")


BAD_INPUT = [
    ({"name": "t-bad", "root": "no-such-root"}, "root", "'no-such-root' does not exist"),
    ({"name": "t-bad", "failure_domain": "galaxy"}, "failure_domain", "'galaxy' is not a CRUSH type"),
    ({"name": "t-bad", "device_class": "nvme"}, "device_class", "device class 'nvme' does not exist"),
    (
        {"name": "t-bad", "rule_type": "erasure", "profile": "no-such-profile"},
        "profile",
        "'no-such-profile' does not exist",
    ),
    ({"name": "t-bad", "rule_type": "erasure"}, "profile", "is required when rule_type is erasure"),
]


def test_bad_input_fails_and_touches_nothing(ceph_cluster):
    before = ceph_cluster.ceph("osd", "crush", "rule", "dump")
    tasks = {f"bad-{i}": args(ceph_cluster, **o) for i, (o, _opt, _rule) in enumerate(BAD_INPUT)}
    for check in (True, False):
        results = run_tasks(MOD, tasks, check=check)
        for i, (_o, option, rule) in enumerate(BAD_INPUT):
            failed, msg, _ = results[f"bad-{i}"]
            assert failed and msg.startswith(f"{option}:") and rule in msg, msg
    assert ceph_cluster.ceph("osd", "crush", "rule", "dump") == before
