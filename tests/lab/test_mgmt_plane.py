"""The HA management plane on the running lab (`make lab`): PostgreSQL, three API replicas, HAProxy
and a keepalived VIP, deployed by `playbooks/mgmt.yml`; then a VIP failover, measured.

The deployed release is a snapshot of the committed tree (`git archive HEAD`), so that engineers
editing the work tree meanwhile do not turn the idempotence check into a race. The lab is left as
found: every service running, keepalived started again on the node it was stopped on.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.harness import REPO, containers_running, head_snapshot, node_exec, run_playbook

INVENTORY = str(REPO / "inventories" / "lab")
MGMT_NODES = ["scloud-node1", "scloud-node2", "scloud-node3"]
VIP = "10.89.10.100"
URL = f"http://{VIP}:8080"
ADMIN_KEY = REPO / ".cache" / "lab" / "admin.key"
FAILOVER_LIMIT = 5.0

pytestmark = pytest.mark.slow


_node = node_exec


def _vip_holders():
    return [n for n in MGMT_NODES
            if _node(n, "ip", "-4", "-o", "addr", "show", "to", f"{VIP}/32").stdout.strip()]


def _lab_running():
    return containers_running(MGMT_NODES)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """mgmt.yml twice on the lab, with the committed tree as the release; yields both runs."""
    assert _lab_running(), "the lab is not running: make lab"
    extra = {"mgmt_api_source_dir": head_snapshot(tmp_path_factory.mktemp("release"))}
    runs = []
    for _ in range(2):
        start = time.monotonic()
        run = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY, extra_vars=extra)
        runs.append((run, time.monotonic() - start))
        assert run.ok, run.stdout[-6000:]
    print(f"\nmgmt.yml first run {runs[0][1]:.1f} s (changed={runs[0][0].changed_count()}), "
          f"second run {runs[1][1]:.1f} s (changed={runs[1][0].changed_count()})")
    return runs


def test_second_run_changes_nothing(deployed):
    second, _ = deployed[1]
    changed = [(e["event_data"].get("host"), e["event_data"].get("task"))
               for e in second.events if e.get("event") == "runner_on_ok"
               and e["event_data"].get("res", {}).get("changed")]
    assert second.changed_count() == 0, changed


def test_every_replica_and_the_vip_are_healthy(deployed):
    for node in MGMT_NODES:
        status = _node(node, "systemctl", "is-active", "scloud-api", "haproxy", "keepalived", check=False)
        assert status.stdout.split() == ["active"] * 3, (node, status.stdout)
    assert len(_vip_holders()) == 1
    health = httpx.get(f"{URL}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["database"] == "ok"


def test_admin_key_through_the_vip(deployed):
    key = ADMIN_KEY.read_text().strip()
    assert ADMIN_KEY.stat().st_mode & 0o077 == 0
    r = httpx.get(f"{URL}/v1/playbooks", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["items"], r.text
    # The replicas share one database: every replica knows the key (HAProxy balances round-robin).
    nodes = set()
    for _ in range(6):
        r = httpx.get(f"{URL}/v1/playbooks", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 200
        nodes.add(httpx.get(f"{URL}/healthz", timeout=5).json()["node"])
    assert len(nodes) > 1, nodes
    assert httpx.get(f"{URL}/v1/playbooks", timeout=5).status_code == 401


def test_job_runs_on_a_replica_through_the_vip(deployed):
    """A job submitted through the VIP runs on a replica, against every lab node, with the lab key."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}
    r = httpx.post(f"{URL}/v1/jobs", headers=headers, timeout=10,
                   json={"playbook": "diagnostics", "extra_vars": {"diagnostics_command": ["hostname"]}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = httpx.get(f"{URL}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] in ("successful", "failed", "error", "timeout", "canceled"):
            break
        time.sleep(1)
    assert job["status"] == "successful", job
    assert sorted(job["stats"]["ok"]) == MGMT_NODES


def test_vip_moves_when_keepalived_stops(deployed):
    [holder] = _vip_holders()
    try:
        start = time.monotonic()
        _node(holder, "systemctl", "stop", "keepalived.service")
        elapsed = None
        while time.monotonic() - start < 30:
            try:
                if httpx.get(f"{URL}/healthz", timeout=0.5).status_code == 200:
                    new = _vip_holders()
                    if new and holder not in new:
                        elapsed = time.monotonic() - start
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        new = _vip_holders()
        print(f"\nVIP failover {holder} -> {new}: answered again after "
              f"{elapsed if elapsed is None else round(elapsed, 3)} s")
        assert elapsed is not None, "the VIP did not answer from another node within 30 s"
        assert elapsed < FAILOVER_LIMIT
        assert len(new) == 1 and new[0] != holder
        key = ADMIN_KEY.read_text().strip()
        r = httpx.get(f"{URL}/v1/playbooks", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 200
    finally:
        _node(holder, "systemctl", "start", "keepalived.service")
    # Back as it was: keepalived everywhere, nopreempt keeps the VIP where it went.
    time.sleep(3)
    state = _node(holder, "systemctl", "is-active", "keepalived.service", check=False).stdout.strip()
    assert state == "active"
    assert len(_vip_holders()) == 1
    assert httpx.get(f"{URL}/healthz", timeout=5).status_code == 200


def _mac(node):
    return _node(node, "cat", "/sys/class/net/eth0/address").stdout.strip()


def _vip_mac_seen_from_host():
    out = subprocess.run(["ip", "neigh", "show", VIP], capture_output=True, text=True).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def test_vip_moves_when_the_holder_hangs(deployed):
    """keepalived frozen on the holder (no priority-0 advert, the VIP stays configured there): the
    others take the VIP after the VRRP master-down interval and the host follows their ARP."""
    [holder] = _vip_holders()
    old_mac = _mac(holder)
    try:
        start = time.monotonic()
        _node(holder, "systemctl", "kill", "--signal=SIGSTOP", "keepalived.service")
        elapsed = None
        while time.monotonic() - start < 30:
            mac = _vip_mac_seen_from_host()
            try:
                ok = httpx.get(f"{URL}/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok and mac is not None and mac != old_mac:
                elapsed = time.monotonic() - start
                break
            time.sleep(0.05)
        print(f"\nVIP failover, {holder} hung: answered from {_vip_mac_seen_from_host()} after "
              f"{elapsed if elapsed is None else round(elapsed, 3)} s")
        assert elapsed is not None, "the VIP did not answer from another node within 30 s"
        assert elapsed < FAILOVER_LIMIT
    finally:
        _node(holder, "systemctl", "kill", "--signal=SIGCONT", "keepalived.service")
    # VRRP settles on one holder again once the frozen node hears the others.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(_vip_holders()) != 1:
        time.sleep(0.5)
    assert len(_vip_holders()) == 1
    assert httpx.get(f"{URL}/healthz", timeout=5).status_code == 200


def test_bad_vip_is_refused_before_anything_changes(deployed):
    """A VIP outside the node subnet fails in the prechecks, naming the option and the rule."""
    before = Path(ADMIN_KEY).read_text()
    run = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY,
                       extra_vars={"mgmt_ha_vip": "192.0.2.10"})
    assert not run.ok
    assert run.changed_count() == 0
    msgs = " ".join(e["event_data"]["res"].get("msg", "") for e in run.events
                    if e.get("event") == "runner_on_failed")
    assert "mgmt_ha_vip" in msgs and "must be a host address" in msgs, msgs
    assert Path(ADMIN_KEY).read_text() == before
