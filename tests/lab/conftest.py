"""The lab tier's shared deployment: the HA management plane of the committed tree, once per session."""

from __future__ import annotations

import time

import pytest

from tests.harness import REPO, containers_running, head_snapshot, run_playbook
from tests.lab.vip import TLS_FILES, TLS_SNAPSHOTS

INVENTORY = str(REPO / "inventories" / "lab")
MGMT_NODES = ["scloud-node1", "scloud-node2", "scloud-node3"]


@pytest.fixture(scope="session")
def mgmt_deployed(tmp_path_factory):
    """mgmt.yml twice on the lab, with the committed tree as the release; yields both runs."""
    assert containers_running(MGMT_NODES), "the lab is not running: make lab"
    extra = {"mgmt_api_source_dir": head_snapshot(tmp_path_factory.mktemp("release"))}
    runs = []
    for _ in range(2):
        start = time.monotonic()
        run = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY, extra_vars=extra)
        runs.append((run, time.monotonic() - start))
        assert run.ok, run.stdout[-6000:]
        TLS_SNAPSHOTS.append([f.read_bytes() for f in TLS_FILES])
    print(f"\nmgmt.yml first run {runs[0][1]:.1f} s (changed={runs[0][0].changed_count()}), "
          f"second run {runs[1][1]:.1f} s (changed={runs[1][0].changed_count()})")
    return runs
