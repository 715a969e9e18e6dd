"""The alarm history through a real Alertmanager (Debian's prometheus-alertmanager) started here.

Alerts are posted to Alertmanager's own API as Prometheus would; Alertmanager groups them and calls
the API's webhook with an operator key (``http_config.authorization``, from a file); the API stores
each firing and each resolution. Read, filtered and acknowledged through the API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import free_port

# packages/apt.txt: make install installs it; without it the fixture fails, it does not skip.
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"

CONFIG = """
route:
  receiver: scloud
  group_by: [alertname, node]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: scloud
    webhook_configs:
      - url: {url}/v1/alarms/webhook
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token}
"""


class Alertmanager:
    def __init__(self, tmp_path, api_url: str, token: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp_path / "am-token").write_text(token)
        (tmp_path / "am.yml").write_text(CONFIG.format(url=api_url, token=tmp_path / "am-token"))
        self.log = (tmp_path / "am.log").open("w")
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, (tmp_path / "am.log").read_text()
            time.sleep(0.2)

    def post(self, labels: dict, annotations: dict | None = None, starts=None, ends=None):
        alert = {"labels": labels, "annotations": annotations or {}}
        if starts:
            alert["startsAt"] = starts.isoformat()
        if ends:
            alert["endsAt"] = ends.isoformat()
        r = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=10)
        assert r.status_code == 200, r.text

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def alertmanager(api, tmp_path):
    am = Alertmanager(tmp_path, api.url, api.tokens["operator"])
    yield am
    am.stop()


def _wait_for(api, params: dict, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    with api.client("viewer") as c:
        while True:
            items = c.get("/v1/alarms", params=params).json()["items"]
            if len(items) >= count:
                return items
            assert time.monotonic() < deadline, (params, items)
            time.sleep(0.1)


OSD_DOWN = {"alertname": "CephOsdDown", "severity": "critical", "node": "n1", "ceph_daemon": "osd.3"}
RUNBOOK = {"summary": "osd.3 on n1 is down", "runbook": "systemctl status ceph-osd@3 on n1"}


def test_firing_and_resolution_are_stored_once_each(api, alertmanager):
    started = datetime.now(UTC) - timedelta(seconds=30)
    t0 = time.monotonic()
    alertmanager.post(OSD_DOWN, RUNBOOK, starts=started)
    (alarm,) = _wait_for(api, {"status": "firing"}, 1)
    fired = time.monotonic() - t0
    assert alarm["name"] == "CephOsdDown" and alarm["severity"] == "critical"
    assert alarm["node"] == "n1" and alarm["resource"] == "osd.3" and alarm["summary"] == RUNBOOK["summary"]
    assert alarm["annotations"]["runbook"] == RUNBOOK["runbook"] and alarm["ends_at"] is None

    # Acknowledged by an operator, not by a viewer; the first acknowledgement stays.
    with api.client("viewer") as c:
        assert c.post(f"/v1/alarms/{alarm['id']}/ack", json={}).status_code == 403
    with api.client("operator") as c:
        acked = c.post(f"/v1/alarms/{alarm['id']}/ack", json={"comment": "replacing the disk"}).json()
        assert acked["acknowledged_by"] == "test-operator" and acked["ack_comment"] == "replacing the disk"
        again = c.post(f"/v1/alarms/{alarm['id']}/ack", json={}).json()
        assert again["acknowledged_at"] == acked["acknowledged_at"]

    # Resolved: the same alarm, with its end; not a new one.
    t1 = time.monotonic()
    alertmanager.post(OSD_DOWN, RUNBOOK, starts=started, ends=datetime.now(UTC))
    (resolved,) = _wait_for(api, {"status": "resolved"}, 1)
    cleared = time.monotonic() - t1
    assert resolved["id"] == alarm["id"] and resolved["ends_at"] is not None
    print(f"\nAlertmanager to the API's history: firing {fired:.2f} s, resolution {cleared:.2f} s")

    # The same alert firing again later is a new alarm: the history keeps both.
    alertmanager.post(OSD_DOWN, RUNBOOK, starts=datetime.now(UTC))
    _wait_for(api, {"status": "firing"}, 1)
    with api.client("viewer") as c:
        history = c.get("/v1/alarms", params={"node": "n1", "name": "CephOsdDown"}).json()
        assert history["total"] == 2 and [a["status"] for a in history["items"]] == ["firing", "resolved"]
        assert c.get("/v1/alarms", params={"acknowledged": True}).json()["total"] == 1
        since = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
        assert c.get("/v1/alarms", params={"since": since}).json()["total"] == 1
        assert c.get("/v1/alarms", params={"severity": "warning"}).json()["total"] == 0
        assert c.get(f"/v1/alarms/{alarm['id']}").json()["status"] == "resolved"


NOTE = {
    "version": "4",
    "status": "firing",
    "receiver": "scloud",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "NodeDown", "severity": "critical", "instance": "10.89.10.12:9100"},
            "annotations": {"summary": "node down"},
            "startsAt": "2026-12-07T10:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "4f1c2a9e8d7b6a50",
        }
    ],
}


def test_a_repeated_or_late_notification_changes_nothing_twice(api):
    with api.client("operator") as c:
        assert c.post("/v1/alarms/webhook", json=NOTE).json() == {"opened": 1, "updated": 0, "resolved": 0}
        # Sent again (Alertmanager's repeat, or a second replica): the same alarm.
        assert c.post("/v1/alarms/webhook", json=NOTE).json() == {"opened": 0, "updated": 1, "resolved": 0}
        resolved = {**NOTE, "status": "resolved"}
        resolved["alerts"] = [{**NOTE["alerts"][0], "status": "resolved", "endsAt": "2026-12-07T10:05:00Z"}]
        assert c.post("/v1/alarms/webhook", json=resolved).json()["resolved"] == 1
        # A late repeat of the firing does not reopen it.
        assert c.post("/v1/alarms/webhook", json=NOTE).json() == {"opened": 0, "updated": 0, "resolved": 0}
        (alarm,) = c.get("/v1/alarms").json()["items"]
    assert alarm["status"] == "resolved" and alarm["node"] == "10.89.10.12"
    assert alarm["ends_at"].startswith("2026-12-07T10:05:00")


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        (None, NOTE, 401),
        ("viewer", NOTE, 403),
        ("operator", {**NOTE, "alerts": [{**NOTE["alerts"][0], "fingerprint": "not hex"}]}, 422),
        ("operator", {**NOTE, "status": "burning"}, 422),
        ("operator", {"alerts": "x"}, 422),
    ],
)
def test_webhook_refuses(api, role, body, status):
    with api.client(role) as c:
        r = c.post("/v1/alarms/webhook", json=body)
        assert r.status_code == status, r.text
        assert c.get("/v1/alarms").status_code in (200, 401) and api_total(api) == 0


def api_total(api) -> int:
    with api.client("viewer") as c:
        return c.get("/v1/alarms").json()["total"]


def test_bad_filters_are_refused(api):
    with api.client("viewer") as c:
        assert c.get("/v1/alarms", params={"status": "burning"}).status_code == 422
        assert c.get("/v1/alarms", params={"since": "yesterday"}).status_code == 422
        assert c.get("/v1/alarms/not-an-id").status_code == 422
        missing = c.get("/v1/alarms/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and missing.json()["code"] == "alarm_not_found"


def test_a_vm_alarm_names_the_vm_and_its_node(api):
    """VmDownUnexpectedly (max by vm, vm_node): the node is the VM's, not an API replica's."""
    alert = {
        **NOTE["alerts"][0],
        "labels": {"alertname": "VmDownUnexpectedly", "severity": "critical", "vm": "web1", "vm_node": "n3"},
        "fingerprint": "0a0b0c0d0e0f1011",
    }
    with api.client("operator") as c:
        assert c.post("/v1/alarms/webhook", json={**NOTE, "alerts": [alert]}).json()["opened"] == 1
        (alarm,) = c.get("/v1/alarms", params={"name": "VmDownUnexpectedly"}).json()["items"]
    assert alarm["node"] == "n3" and alarm["resource"] == "web1", alarm


# Subscriptions: signed callbacks when an alarm opens and resolves ----------------------------------
def _subscribe(api, name, url, **filters):
    with api.client("operator") as c:
        r = c.put(f"/v1/alarm-subscriptions/{name}", json={"url": url, **filters})
        assert r.status_code in (200, 201), r.text
        return r


def test_a_subscriber_gets_one_signed_callback_per_change(api, alertmanager):
    """Through a real Alertmanager: the subscriber asked for critical alarms gets the firing and the
    resolution once each (signed, the same webhook-id across retries: its first answer is a 503),
    the one asked for warnings only gets nothing, and the deliveries show on the subscription."""
    from scloud_api.callbacks import verify

    from .receiver import Receiver

    secret = api.settings.webhook_secret.get_secret_value()
    with Receiver(statuses=[503, 200, 200]) as critical, Receiver() as warnings:
        assert _subscribe(api, "pager", critical.url, severities=["critical"]).status_code == 201
        _subscribe(api, "chat", warnings.url, severities=["warning"], alarms=["CephOsdDown"])
        started = datetime.now(UTC) - timedelta(seconds=5)
        alertmanager.post(OSD_DOWN, RUNBOOK, starts=started)
        (alarm,) = _wait_for(api, {"status": "firing"}, 1)
        critical.wait_calls(2, timeout=30)  # the 503, then its retry
        alertmanager.post(OSD_DOWN, RUNBOOK, starts=started, ends=datetime.now(UTC))
        _wait_for(api, {"status": "resolved"}, 1)
        critical.wait_calls(3, timeout=30)
        time.sleep(3)  # Alertmanager's repeats and a second delivery would come now
        calls = critical.calls
        bodies = [json.loads(c["body"]) for c in calls]
        assert [b["type"] for b in bodies] == ["alarm.firing", "alarm.firing", "alarm.resolved"], bodies
        assert calls[0]["headers"]["webhook-id"] == calls[1]["headers"]["webhook-id"]
        assert calls[1]["headers"]["webhook-id"] != calls[2]["headers"]["webhook-id"]
        assert all(verify(secret, c["headers"], c["body"]) for c in calls)
        assert all(b["data"]["id"] == alarm["id"] and b["data"]["name"] == "CephOsdDown" for b in bodies)
        assert bodies[2]["data"]["status"] == "resolved" and bodies[2]["data"]["ends_at"]
        assert calls[0]["path"] == "/hook"
        assert warnings.calls == []
    with api.client("viewer") as c:
        sub = c.get("/v1/alarm-subscriptions/pager").json()
        assert [(n["event"], n["delivered"], n["attempts"]) for n in sub["recent"]] == [
            ("alarm.resolved", True, 1),
            ("alarm.firing", True, 2),
        ], sub
        assert sub["recent"][1]["http_status"] == 200
        assert c.get("/v1/alarm-subscriptions/chat").json()["recent"] == []
        names = [s["name"] for s in c.get("/v1/alarm-subscriptions").json()["items"]]
        assert names == ["chat", "pager"]


def test_the_same_notification_twice_notifies_once(api):
    """Two replicas (or Alertmanager's repeat) storing the same notification: one callback."""
    from .receiver import Receiver

    with Receiver() as rx:
        _subscribe(api, "once", rx.url)
        with api.client("operator") as c:
            for _ in range(3):
                assert c.post("/v1/alarms/webhook", json=NOTE).status_code == 200
        rx.wait_calls(1, timeout=30)
        time.sleep(2)
        assert len(rx.calls) == 1


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"url": "http://10.1.2.3/hook"}, "url", "callback_url_refused"),  # not on the allow-list
        ({"url": "file:///etc/passwd"}, "url", "callback_url_refused"),
        ({"url": "http://127.0.0.1/x", "severities": ["fatal"]}, "severities", "validation_error"),
        ({"url": "http://127.0.0.1/x", "alarms": ["no spaces"]}, "alarms", "validation_error"),
        ({"url": "http://127.0.0.1/x", "extra": 1}, "extra", "validation_error"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(api, body, field, code):
    with api.client("operator") as c:
        r = c.put("/v1/alarm-subscriptions/bad", json=body)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert any(field in map(str, e["loc"]) for e in r.json()["errors"]), r.text
        assert c.get("/v1/alarm-subscriptions/bad").status_code == 404


def test_subscriptions_need_an_operator_and_can_be_deleted(api):
    with api.client("viewer") as c:
        assert c.put("/v1/alarm-subscriptions/v", json={"url": "http://127.0.0.1/x"}).status_code == 403
    _subscribe(api, "gone", "http://127.0.0.1:9/x")
    with api.client("operator") as c:
        again = c.put("/v1/alarm-subscriptions/gone", json={"url": "http://127.0.0.1:9/y"})
        assert again.status_code == 200 and again.json()["url"] == "http://127.0.0.1:9/y"
        assert c.delete("/v1/alarm-subscriptions/gone").status_code == 204
        assert c.delete("/v1/alarm-subscriptions/gone").status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_undelivered_notice_is_sent_again_by_the_next_start(api_factory):
    """The receiver fails until the retry window ends; the API node's next start sends the same
    message (same webhook-id) again, and it is delivered."""
    from .receiver import Receiver

    with Receiver(statuses=[503] * 50) as rx:
        retries = {"callback_max_attempts": 50, "callback_backoff_initial": 0.3}
        first = api_factory(callback_retry_seconds=1.0, **retries)
        _subscribe(first, "later", rx.url)
        with first.client("operator") as c:
            assert c.post("/v1/alarms/webhook", json=NOTE).status_code == 200
        rx.wait_calls(1, timeout=30)
        time.sleep(2)  # past the retry window: given up for now
        with first.client("viewer") as c:
            (notice,) = c.get("/v1/alarm-subscriptions/later").json()["recent"]
        assert not notice["delivered"] and notice["attempts"] >= 1, notice
        failed = len(rx.calls)
        rx.statuses[:] = [200]
        api_factory(
            node_name=first.settings.node_name, **retries
        )  # the same node and database: its start resends what this node left
        rx.wait_calls(failed + 1, timeout=30)
        assert rx.calls[-1]["headers"]["webhook-id"] == rx.calls[0]["headers"]["webhook-id"] == notice["id"]
        with first.client("viewer") as c:
            (notice,) = c.get("/v1/alarm-subscriptions/later").json()["recent"]
        assert notice["delivered"] and notice["http_status"] == 200, notice
