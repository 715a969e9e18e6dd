"""Cluster monitoring on the cloud `make up` built (roles/monitoring, issue 16).

Every mgmt node's Prometheus scrapes every exporter (node, libvirt, Ceph's manager, HAProxy, the API
replicas, the health timer's OVN and VIP figures); the Alertmanagers form one cluster. Then an OSD is
stopped while one node's Prometheus is down: its alarm reaches the API's history once and a
subscriber's callback once (signed), is read through the VIP, and is resolved when the OSD is back;
both delays are measured. An alarm rule made through the VIP is rolled out to every Prometheus,
fires into the API's history, and goes with its DELETE.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.api.receiver import Receiver
from tests.harness import REPO, node_exec
from tests.lab.vip import GATEWAY, MGMT_NODES, URL, tls

ADDRESSES = {"scloud-node1": "10.89.10.11", "scloud-node2": "10.89.10.12", "scloud-node3": "10.89.10.13"}
ADMIN_KEY = REPO / ".cache" / "lab" / "admin.key"

pytestmark = pytest.mark.slow


def _query(node: str, expr: str) -> list[dict]:
    r = httpx.get(f"http://{ADDRESSES[node]}:9090/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def _until(what, check, timeout: float, every: float = 3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(every)


@pytest.fixture(scope="module")
def api(cloud_deployed):
    headers = {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}
    with httpx.Client(base_url=URL, verify=tls(), headers=headers, timeout=30) as c:
        yield c


def test_every_target_is_scraped_by_every_prometheus(cloud_deployed):
    wanted = {"node": 3, "libvirt": 3, "scloud-api": 3, "haproxy": 3}
    for node in MGMT_NODES:

        def up_by_job(node=node):
            ups = _query(node, "up == 1")
            counts = {job: sum(1 for r in ups if r["metric"]["job"] == job) for job in wanted}
            return counts if counts == wanted and any(r["metric"]["job"] == "ceph" for r in ups) else None

        _until(f"every target up for {node}'s Prometheus", up_by_job, 120)
        # The figures of every exporter are there: Ceph's health, a libvirt host, the health timer's.
        assert _query(node, "ceph_health_status"), "no Ceph metrics"
        assert len(_query(node, "libvirt_up == 1")) == 3
        leaders = _query(node, "max by (db) (scloud_ovn_cluster_leader_known)")
        assert sorted(r["metric"]["db"] for r in leaders if r["value"][1] == "1") == [
            "OVN_Northbound",
            "OVN_Southbound",
        ], leaders
        assert _query(node, "sum(scloud_vip_held)")[0]["value"][1] == "1"
        assert _query(node, "max(scloud_ovn_chassis)")[0]["value"][1] == "3"
        # HAProxy's own figures: every replica of the API's backend is up, seen from each node.
        backends = _query(node, 'haproxy_backend_active_servers{proxy="scloud_api_replicas"}')
        assert sorted(r["value"][1] for r in backends) == ["3", "3", "3"], backends
        # The alarm rules are loaded, and nothing fires on the healthy cloud but what Ceph's own
        # figures show (none expected).
        rules = httpx.get(f"http://{ADDRESSES[node]}:9090/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert {g["name"] for g in rules} == {"scloud-nodes", "scloud-ceph", "scloud-ovn", "scloud-mgmt"}
    for node in MGMT_NODES:
        status = httpx.get(f"http://{ADDRESSES[node]}:9093/api/v2/status", timeout=10).json()
        assert status["cluster"]["status"] == "ready" and len(status["cluster"]["peers"]) == 3, status


def test_a_node_s_recent_figures_through_the_vip(api):
    """GET /v1/nodes/{name}/metrics through the VIP: the replica asks a Prometheus of the mgmt nodes."""

    def figures():
        body = api.get("/v1/nodes/scloud-node1/metrics", params={"minutes": 5, "step": 15}).json()
        series = body.get("series", {})
        return body if series.get("cpu_used_ratio") and series.get("memory_available_ratio") else None

    body = _until("node 1's figures through the VIP", figures, 120, every=5)
    assert all(0 <= v <= 1 for _, v in body["series"]["cpu_used_ratio"]), body
    assert body["source"].endswith(":9090"), body


def test_the_overview_through_the_vip(api):
    """GET /v1/overview through the VIP: the three nodes up, each with its latest figures."""

    def complete():
        body = api.get("/v1/overview").json()
        nodes = {n["name"]: n for n in body.get("nodes", [])}
        ready = set(ADDRESSES) <= set(nodes) and all(
            nodes[n]["cpu_used_ratio"] is not None for n in ADDRESSES
        )
        return (body, nodes) if ready else None

    body, nodes = _until("every node in the overview", complete, 120, every=5)
    for name in ADDRESSES:
        node = nodes[name]
        assert node["known"] and node["up"] is True, node
        assert 0 <= node["cpu_used_ratio"] <= 1 and 0 < node["memory_available_ratio"] <= 1, node
    assert body["source"].endswith(":9090"), body


def _an_osd_of(node: str) -> int:
    tree = json.loads(node_exec(node, "ceph", "osd", "tree", "-f", "json").stdout)
    hosts = {n["name"]: n["children"] for n in tree["nodes"] if n["type"] == "host"}
    return sorted(hosts[node])[0]


def _healthy(node: str) -> bool:
    status = json.loads(node_exec(node, "ceph", "status", "-f", "json").stdout)
    pgs = status["pgmap"]["pgs_by_state"]
    osds = status["osdmap"]
    return osds["num_up_osds"] == osds["num_osds"] and all(s["state_name"] == "active+clean" for s in pgs)


def test_an_osd_down_is_an_alarm_once_and_resolved(api):
    node = "scloud-node2"
    osd = _an_osd_of(node)
    resource = f"osd.{osd}"
    params = {"name": "CephOsdDown", "resource": resource}
    before = {a["id"] for a in api.get("/v1/alarms", params=params).json()["items"]}
    # A subscriber on this machine (the lab's callback allow-list names the gateway).
    rx = Receiver(host=GATEWAY).__enter__()
    sub = {"url": rx.url, "alarms": ["CephOsdDown"], "severities": ["critical"]}
    assert api.put("/v1/alarm-subscriptions/lab-drill", json=sub).status_code in (200, 201)
    # One Prometheus down: the other two still evaluate the rules; the alarm arrives once.
    node_exec("scloud-node1", "systemctl", "stop", "prometheus")
    try:
        node_exec(node, "systemctl", "stop", f"ceph-osd@{osd}")
        stopped = time.monotonic()
        try:

            def firing():
                items = api.get("/v1/alarms", params={**params, "status": "firing"}).json()["items"]
                return [a for a in items if a["id"] not in before]

            (alarm,) = _until("the OSD's alarm in the API", firing, 240)
            fired = time.monotonic() - stopped
            assert alarm["node"] == node and alarm["severity"] == "critical", alarm
            assert alarm["annotations"]["runbook"], alarm
        finally:
            node_exec(node, "systemctl", "start", f"ceph-osd@{osd}")
        started = time.monotonic()

        def resolved():
            got = api.get(f"/v1/alarms/{alarm['id']}").json()
            return got if got["status"] == "resolved" else None

        _until("the OSD's alarm resolved", resolved, 240)
        cleared = time.monotonic() - started
    finally:
        node_exec("scloud-node1", "systemctl", "start", "prometheus")
        try:
            rx.wait_calls(2, timeout=60)
            time.sleep(5)  # a duplicate would come now
        finally:
            rx.__exit__(None, None, None)
            api.delete("/v1/alarm-subscriptions/lab-drill")
    after = [a for a in api.get("/v1/alarms", params=params).json()["items"] if a["id"] not in before]
    assert len(after) == 1, after  # once, although two Prometheus and three Alertmanagers saw it
    # The subscriber: the firing and the resolution of this alarm, once each, signed.
    mine = [json.loads(c["body"]) for c in rx.calls]
    mine = [b for b in mine if b["data"]["resource"] == resource]
    assert [b["type"] for b in mine] == ["alarm.firing", "alarm.resolved"], mine
    assert all(b["data"]["id"] == alarm["id"] for b in mine)
    assert all(c["headers"].get("webhook-signature", "").startswith("v1,") for c in rx.calls)
    acked = api.post(f"/v1/alarms/{alarm['id']}/ack", json={"comment": "drill"})
    assert acked.status_code == 200 and acked.json()["ack_comment"] == "drill", acked.text
    print(
        f"\n{resource} on {node}: alarm in the API {fired:.0f} s after the stop, "
        f"resolved {cleared:.0f} s after the start"
    )
    _until("Ceph healthy again", lambda: _healthy(node), 300, every=5)


def _rules_of(node: str) -> set[str]:
    groups = httpx.get(f"http://{ADDRESSES[node]}:9090/api/v1/rules", timeout=10).json()["data"]["groups"]
    return {r["name"] for g in groups if g["name"] == "scloud-api" for r in g["rules"]}


def _job(api, r, timeout=300) -> dict:
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "starting", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(2)


def test_an_alarm_rule_made_through_the_vip(api):
    """PUT /v1/alarm-rules/{name} through the VIP: the job writes the rule on every mgmt node and
    reloads each Prometheus; the rule fires into the API's history; DELETE takes it away and the
    alarm resolves."""
    rule = {
        "expr": 'vector(1) and on() (count(up{job="node"} == 1) >= 1)',
        "for": "0s",
        "severity": "info",
        "summary": "the lab's drill rule ({{ $value }} series)",
        "runbook": "Nothing to do: tests/lab/test_monitoring.py made it and deletes it.",
    }
    t0 = time.monotonic()
    job = _job(api, api.put("/v1/alarm-rules/LabDrillRule", json=rule))
    assert job["status"] == "successful", job
    assert sorted(job["hosts"]) == MGMT_NODES and all(h["changed"] >= 1 for h in job["hosts"].values()), job
    for node in MGMT_NODES:
        _until(
            f"the rule loaded by {node}'s Prometheus", lambda node=node: "LabDrillRule" in _rules_of(node), 60
        )
    loaded = time.monotonic() - t0

    def firing():
        items = api.get("/v1/alarms", params={"name": "LabDrillRule", "status": "firing"}).json()["items"]
        return items

    (alarm,) = _until("the rule's alarm in the API", firing, 180)
    fired = time.monotonic() - t0
    assert alarm["summary"] == "the lab's drill rule (1 series)", alarm  # Prometheus' template, expanded
    again = _job(api, api.put("/v1/alarm-rules/LabDrillRule", json=rule))
    assert again["status"] == "successful" and all(h["changed"] == 0 for h in again["hosts"].values()), again
    record = api.get("/v1/alarm-rules/LabDrillRule").json()
    assert record["status"] == "ready" and record["observed"]["rules"] == ["LabDrillRule"], record

    gone = _job(api, api.delete("/v1/alarm-rules/LabDrillRule"))
    assert gone["status"] == "successful", gone
    for node in MGMT_NODES:
        _until(f"the rule gone from {node}'s Prometheus", lambda node=node: not _rules_of(node), 60)
    _until(
        "the rule's alarm resolved",
        lambda: api.get(f"/v1/alarms/{alarm['id']}").json()["status"] == "resolved",
        420,  # Prometheus stops sending it; Alertmanager resolves it when its last endsAt passes
    )
    assert api.get("/v1/alarm-rules/LabDrillRule").status_code == 404
    print(f"\nalarm rule through the VIP: on every Prometheus {loaded:.0f} s, alarm in the API {fired:.0f} s")
