"""ceph_auth against the real cluster: key created, caps reconciled, keyring file 0600, removal."""

from __future__ import annotations

import os
import stat

import pytest

from tests.integration.ceph._util import args, converge4, run_tasks

pytestmark = pytest.mark.ceph
MOD = "scloud.stack.ceph_auth"


def auth_get(cluster, name):
    return cluster.ceph("auth", "get", name)[0]


def test_key_lifecycle(ceph_cluster, tmp_path):
    dest = tmp_path / "ceph.client.t-compute.keyring"
    caps = {"mon": "profile rbd", "osd": "profile rbd pool=volumes"}
    runs = converge4(MOD, args(ceph_cluster, name="client.t-compute", caps=caps, dest=str(dest)))
    raw = auth_get(ceph_cluster, "client.t-compute")
    assert raw["caps"] == caps
    key = runs["apply_again"].result["key"]
    assert key == raw["key"]
    assert oct(stat.S_IMODE(os.stat(dest).st_mode)) == "0o600"
    text = dest.read_text()
    assert f"key = {raw['key']}" in text and 'caps osd = "profile rbd pool=volumes"' in text
    assert key not in str(runs["apply"].diff) and key not in str(runs["apply"].result["commands"])
    # The file works: the new key authenticates.
    status = ceph_cluster._run(
        [
            "ceph",
            "-c",
            ceph_cluster.conf,
            "--id",
            "t-compute",
            "--keyring",
            str(dest),
            "-f",
            "json",
            "mon",
            "stat",
        ]
    )
    assert '"quorum"' in status or "quorum" in status

    # Caps replaced as a whole; the key stays.
    new_caps = {
        "mon": "profile rbd",
        "osd": "profile rbd pool=volumes, profile rbd pool=images",
        "mgr": "profile rbd",
    }
    runs = converge4(MOD, args(ceph_cluster, name="client.t-compute", caps=new_caps, dest=str(dest)))
    assert runs["apply"].diff[0]["before"]["caps"] == caps
    raw = auth_get(ceph_cluster, "client.t-compute")
    assert raw["caps"] == new_caps and raw["key"] == key
    assert "pool=images" in dest.read_text()

    converge4(MOD, args(ceph_cluster, name="client.t-compute", state="absent", dest=str(dest)))
    assert ceph_cluster.ceph("auth", "get", "client.t-compute", check=False) is None
    assert not dest.exists()


BAD_INPUT = [
    ({"name": "t-compute"}, "name", "is not an entity name of the form TYPE.ID"),
    ({"name": "client.t-x", "caps": {"rgw": "allow *"}}, "caps", "'rgw' is not a service with caps"),
    ({"name": "client.t-x", "caps": {"mon": ""}}, "caps", "the caps of mon must be a non-empty string"),
    (
        {"name": "client.t-x", "dest": "/nonexistent/dir/k"},
        "dest",
        "directory /nonexistent/dir does not exist",
    ),
]


def test_bad_input_fails_and_touches_nothing(ceph_cluster):
    before = sorted(e["entity"] for e in ceph_cluster.ceph("auth", "ls")["auth_dump"])
    tasks = {f"bad-{i}": args(ceph_cluster, **o) for i, (o, _opt, _rule) in enumerate(BAD_INPUT)}
    results = run_tasks(MOD, tasks)
    for i, (_o, option, rule) in enumerate(BAD_INPUT):
        failed, msg, _ = results[f"bad-{i}"]
        assert failed and msg.startswith(f"{option}:") and rule in msg, msg
    assert sorted(e["entity"] for e in ceph_cluster.ceph("auth", "ls")["auth_dump"]) == before
