"""The whole-cloud checks and failure drills, on the one cloud this tier deployed (`cloud_deployed`).

The same playbooks as the `ha` and `ceph` Molecule scenarios (molecule/ha: verify.yml,
side_effect.yml and its drill4.yml; molecule/ceph: verify.yml, side_effect.yml), here against
`inventories/lab`, the cloud `make up` builds: `site.yml --check` on the converged cloud; the
end-to-end check (Ceph and OVN healthy, a VM booted from RBD on a VPC subnet, the API through the
VIP); the Ceph drills (node 3's OSDs, on drives through ceph-volume raw, stopped while data is read
and written; one OSD purged and one file system lost, repaired by the role); drills 1 to 4
(keepalived stopped on the VIP holder with a job in flight, a Ceph monitor stopped, the OVN
Northbound leader stopped, a whole node killed), each measured and asserted by the playbook; then
the end-to-end check again. conftest.py runs this module last.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import REPO, run_playbook
from tests.lab.vip import CA, GATEWAY, VIP

INVENTORY = str(REPO / "inventories" / "lab")
HA = REPO / "molecule" / "ha"
CEPH = REPO / "molecule" / "ceph"
# What molecule/ha's group_vars give its own lab; the embedded lab's values (roles/lab, roles/mgmt_ha).
LAB_VARS = {
    "lab_state_dir": str(REPO / ".cache" / "lab"),
    "mgmt_ha_tls_dir": str(CA.parent),
    "mgmt_ha_vip": VIP,
    "lab_gateway": GATEWAY,
}

pytestmark = pytest.mark.slow

# The drills share one cloud and run in order: once a drill fails, the cloud may be left broken (a
# node's OSDs down, a monitor short of quorum) and the next ones would only wait on it. They fail at
# once instead, naming the drill that failed first, so a broken cloud costs one drill's time, not all.
# Only the drills (marked `breaks_the_cloud`) can leave it broken; a check that fails does not.
_BROKEN: list[str] = []
breaks_the_cloud = pytest.mark.breaks_the_cloud


@pytest.fixture(autouse=True)
def _cloud_not_left_broken(request):
    if _BROKEN:
        pytest.fail(f"not run on a cloud that {_BROKEN[0]} failed on (see that test's failure)")
    yield
    if getattr(request.node, "call_failed", False) and request.node.get_closest_marker("breaks_the_cloud"):
        _BROKEN.append(request.node.name)


def _figures(run) -> str:
    """The drills' measured figures: the messages of their debug tasks named '... figures'."""
    lines = []
    for event in run.events:
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and "figures" in (data.get("task") or ""):
            msg = data.get("res", {}).get("msg")
            lines += msg if isinstance(msg, list) else [msg] if msg else []
    return "\n".join(str(line) for line in lines)


# Each playbook here takes 1 to 6 minutes on a healthy cloud; a cloud an earlier failure left broken
# must fail the next one in minutes, not hold the run (a Ceph command without quorum waits forever).
PLAY_TIMEOUT = 1200


def _play(path, **kwargs):
    run = run_playbook(str(path), inventory=INVENTORY, extra_vars=LAB_VARS, timeout=PLAY_TIMEOUT, **kwargs)
    assert run.ok, run.stdout[-8000:]
    return run


def test_check_mode_on_the_deployed_cloud_predicts_no_change(cloud_deployed, cloud_release):
    """site.yml --check on the converged cloud: every read runs, nothing fails, nothing would change."""
    release = {"mgmt_api_source_dir": cloud_release}
    run = run_playbook(
        "playbooks/site.yml", inventory=INVENTORY, extra_vars=release, check=True, timeout=PLAY_TIMEOUT
    )
    assert run.ok, run.stdout[-8000:]
    changed = [
        (e["event_data"].get("host"), e["event_data"].get("task"))
        for e in run.events
        if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")
    ]
    assert run.changed_count() == 0, changed


def test_the_cloud_works_end_to_end(cloud_deployed):
    _play(HA / "verify.yml")


@breaks_the_cloud
def test_ceph_keeps_serving_without_a_node_and_repairs_broken_osds(cloud_deployed):
    """Every OSD healthy, data written; a node's OSDs stopped: degraded reads and writes; two OSDs
    broken half-way and repaired by the role with their old ids; every image reads back."""
    _play(CEPH / "verify.yml")
    run = _play(CEPH / "side_effect.yml")
    figures = "\n".join(
        str(e["event_data"]["res"].get("msg"))
        for e in run.events
        if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == "Repair time"
    )
    print("\n" + figures)
    assert "role re-run to HEALTH_OK" in figures, figures
    _play(CEPH / "verify.yml")


@breaks_the_cloud
def test_failure_drills(cloud_deployed):
    run = _play(HA / "side_effect.yml")
    figures = _figures(run)
    print("\n" + figures)
    assert re.search(r"answered again [\d.]+ s after the stop", figures), figures


def test_the_cloud_is_whole_again_after_the_drills(cloud_deployed):
    _play(HA / "verify.yml")
