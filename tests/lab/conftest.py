"""The lab tier's shared deployment: the whole cloud of the committed tree (`playbooks/site.yml`, what
`make up` deploys), once per session; every test of the tier and every whole-cloud drill runs on it."""

from __future__ import annotations

import time

import pytest

from tests.harness import REPO, containers_running, head_snapshot, run_playbook
from tests.lab.vip import MGMT_NODES, TLS_FILES, TLS_SNAPSHOTS

INVENTORY = str(REPO / "inventories" / "lab")


# The first test that asks for the deployment waits for it: site.yml twice on a fresh lab takes longer
# than pytest-timeout's default for one test (pyproject.toml).
DEPLOY_TIMEOUT = 3600


def pytest_collection_modifyitems(items):
    """The whole-cloud drills (test_whole_cloud_drills.py) last: they stop nodes and services."""
    for item in items:
        if "cloud_deployed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(DEPLOY_TIMEOUT))
    items.sort(key=lambda item: item.path.name == "test_whole_cloud_drills.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark an item whose test body failed (test_whole_cloud_drills.py stops on a broken cloud)."""
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture(scope="session")
def cloud_release(tmp_path_factory):
    """The API's release deployed by this session: a snapshot of the committed tree."""
    return head_snapshot(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="session")
def cloud_deployed(cloud_release):
    """site.yml twice on the lab, with the committed tree as the API's release; both runs.

    The second run is the idempotence proof (tests/lab/test_mgmt_plane.py asserts changed=0);
    on a lab that `make up` already deployed, the first run is a no-op too."""
    assert containers_running(MGMT_NODES), "the lab is not running: make lab"
    extra = {"mgmt_api_source_dir": cloud_release}
    runs = []
    for _ in range(2):
        start = time.monotonic()
        run = run_playbook("playbooks/site.yml", inventory=INVENTORY, extra_vars=extra, timeout=3600)
        runs.append((run, time.monotonic() - start))
        assert run.ok, run.stdout[-6000:]
        TLS_SNAPSHOTS.append([f.read_bytes() for f in TLS_FILES])
    print(
        f"\nsite.yml first run {runs[0][1]:.1f} s (changed={runs[0][0].changed_count()}), "
        f"second run {runs[1][1]:.1f} s (changed={runs[1][0].changed_count()})"
    )
    # The slowest tasks of each run (ansible.posix.profile_tasks closes the output with them).
    for n, (run, _) in enumerate(runs, 1):
        print(f"site.yml run {n}, slowest tasks:\n" + "\n".join(run.stdout.splitlines()[-18:]))
    return runs
