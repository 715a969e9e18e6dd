"""The example playbook of docs/storage.md runs as written, twice (second run changed=0)."""

from __future__ import annotations

import json
import os
import re
import tempfile

import pytest
import yaml

from tests.harness import REPO, run_playbook

pytestmark = pytest.mark.ceph


def doc_blocks():
    text = (REPO / "docs" / "storage.md").read_text()
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("# tested:")]


@pytest.fixture
def clean_after(ceph_cluster):
    yield
    # leave the shared cluster as it was, whatever the test did
    c = ceph_cluster
    c.rbd("rm", "volumes-hdd/vm1-data", json_out=False, check=False)
    for pool in ("volumes-hdd", "backups"):
        c.ceph("osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it", check=False)
    c.ceph("auth", "rm", "client.compute", check=False)
    for rule in ("replicated-hdd-host", "backups"):
        c.ceph("osd", "crush", "rule", "rm", rule, check=False)
    c.ceph("osd", "erasure-code-profile", "rm", "ec-2-1", check=False)


def test_storage_doc_example_runs(ceph_cluster, clean_after):
    (block,) = doc_blocks()
    plays = yaml.safe_load(block)
    for play in plays:
        # As the doc shows: the connection once, for the whole group (the doc's values are for a
        # real host; the test cluster's files are elsewhere).
        assert set(play["module_defaults"]) == {"group/scloud.stack.ceph"}
        play["module_defaults"]["group/scloud.stack.ceph"].update(
            conf=ceph_cluster.conf, keyring=ceph_cluster.keyring
        )
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        json.dump(plays, fh)
    try:
        first = run_playbook(fh.name)
        assert first.ok, first.stdout[-3000:]
        assert first.changed_count() > 0
        second = run_playbook(fh.name)
        assert second.ok and second.changed_count() == 0, second.stdout[-3000:]
    finally:
        os.unlink(fh.name)
    pools = {p["pool_name"]: p for p in ceph_cluster.ceph("osd", "pool", "ls", "detail")}
    assert pools["volumes-hdd"]["size"] == 3 and pools["backups"]["erasure_code_profile"] == "ec-2-1"
    assert ceph_cluster.rbd("info", "volumes-hdd/vm1-data")["size"] == 2 * 1024**3
    assert (
        ceph_cluster.ceph("auth", "get", "client.compute")[0]["caps"]["osd"] == "profile rbd pool=volumes-hdd"
    )
