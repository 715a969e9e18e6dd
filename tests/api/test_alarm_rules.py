"""Alarm rules through the API (PUT/DELETE /v1/alarm-rules/{name}), rolled out by a real job to a
host of the job inventory (this machine) and loaded by a real Prometheus (Debian's) started here.

promtool (Prometheus' own checker) refuses a bad rule before anything is recorded, naming the field;
the job writes the whole set of the API's rules, checked again by promtool on the node; Prometheus'
own templates (``{{ $labels.instance }}``) reach the file literally: Ansible never templates them.
"""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest
import yaml

from .conftest import free_port
from .test_metrics_routes import PROMETHEUS, _start

SUMMARY = "{{ $labels.instance }} has less than {{ $value | humanize }}B free"


@pytest.fixture
def rules_api(api_factory, tmp_path):
    """The API with one node, this machine, as its only Prometheus server; the rules go to tmp_path
    (monitoring_rules_dir) and the test reloads its own Prometheus (no system service here)."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    inventory = tmp_path / "cloud.json"
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "monitoring_rules_dir": str(rules_dir),
        "monitoring_prometheus_reload": False,
    }
    inventory.write_text(json.dumps({"mgmt": {"hosts": {"here": host}}}))
    api = api_factory(inventory=str(inventory))
    api.rules_file = rules_dir / "scloud-api.yml"
    return api


@pytest.fixture
def prometheus_of(tmp_path):
    """A Prometheus evaluating the rules of ``rules/`` every second; reloaded by SIGHUP."""
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{tmp_path / 'rules'}/*.yml']\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    url = f"http://127.0.0.1:{port}"
    proc = _start(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log,
        f"{url}/-/ready",
    )
    yield proc, url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _rule(**over):
    return {
        "expr": "vector(1)",
        "for": "0s",
        "severity": "info",
        "summary": SUMMARY,
        "runbook": "Nothing to do: the test's own rule.",
        **over,
    }


def _put(api, c, name, body, status="successful"):
    r = c.put(f"/v1/alarm-rules/{name}", json=body)
    assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"], timeout=120)
    assert job["status"] == status, c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 200}).text[-3000:]
    return job


def _loaded(url, want: set[str], timeout=30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        groups = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        if set(rules) == want:
            return rules
        assert time.monotonic() < deadline, rules
        time.sleep(0.3)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rules_rolled_out_loaded_and_removed(rules_api, prometheus_of):
    api, (prom, url) = rules_api, prometheus_of
    with api.client("operator") as c:
        first = _put(api, c, "TestAlwaysOn", _rule(labels={"team": "storage"}))
        assert first["hosts"]["here"]["changed"] == 1
        doc = yaml.safe_load(api.rules_file.read_text())
        (rule,) = doc["groups"][0]["rules"]
        assert rule["annotations"]["summary"] == SUMMARY  # literal: not templated by Ansible
        assert rule["labels"] == {"team": "storage", "severity": "info"} and rule["expr"] == "vector(1)"

        # The same PUT again: nothing to change.
        again = _put(api, c, "TestAlwaysOn", _rule(labels={"team": "storage"}))
        assert again["hosts"]["here"]["changed"] == 0

        _put(api, c, "TestNever", _rule(expr="vector(1) == 2", severity="warning", **{"for": "5m"}))
        prom.send_signal(signal.SIGHUP)
        rules = _loaded(url, {"TestAlwaysOn", "TestNever"})
        assert rules["TestNever"]["duration"] == 300
        # Prometheus evaluates it and expands its own template.
        deadline = time.monotonic() + 30
        while True:
            alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            firing = [a for a in alerts if a["labels"]["alertname"] == "TestAlwaysOn"]
            if firing and firing[0]["state"] == "firing":
                break
            assert time.monotonic() < deadline, alerts
            time.sleep(0.3)
        assert firing[0]["annotations"]["summary"].endswith("has less than 1B free")

        record = c.get("/v1/alarm-rules/TestNever").json()
        assert record["status"] == "ready" and record["spec"]["for"] == "5m"
        assert record["observed"]["rules"] == ["TestAlwaysOn", "TestNever"]
        listed = c.get("/v1/alarm-rules").json()
        assert [r["name"] for r in listed["items"]] == ["TestAlwaysOn", "TestNever"]

        r = c.delete("/v1/alarm-rules/TestAlwaysOn")
        assert r.status_code == 202, r.text
        assert api.wait(r.json()["id"])["status"] == "successful"
        assert c.get("/v1/alarm-rules/TestAlwaysOn").status_code == 404
        prom.send_signal(signal.SIGHUP)
        _loaded(url, {"TestNever"})


@pytest.mark.parametrize(
    ("name", "body", "field", "code"),
    [
        ("Bad", _rule(expr="up =="), "expr", "invalid_alarm_rule"),
        ("Bad", _rule(expr="rate(up[5m]"), "expr", "invalid_alarm_rule"),
        ("Bad", _rule(summary="{{ .Nope | nosuchfunc }}"), "summary", "invalid_alarm_rule"),
        ("Bad", _rule(runbook="{{ if }}"), "runbook", "invalid_alarm_rule"),
        ("Bad", _rule(**{"for": "5 minutes"}), "for", "validation_error"),
        ("Bad", _rule(labels={"severity": "critical"}), "labels", "validation_error"),
        ("Bad", _rule(severity="fatal"), "severity", "validation_error"),
        ("Bad", {**_rule(), "shell": "id"}, "shell", "validation_error"),
        ("CephOsdDown", _rule(), "name", "reserved_name"),  # a rule the monitoring role ships
    ],
)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_bad_rule_is_refused_before_anything_is_recorded(rules_api, name, body, field, code):
    with rules_api.client("operator") as c:
        before = c.get("/v1/jobs").json()["total"]
        r = c.put(f"/v1/alarm-rules/{name}", json=body)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert any(field in map(str, e["loc"]) for e in r.json()["errors"]), r.text
        assert c.get("/v1/jobs").json()["total"] == before
        assert c.get(f"/v1/alarm-rules/{name}").status_code == 404
    assert not rules_api.rules_file.exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_viewer_cannot_change_rules(rules_api):
    with rules_api.client("viewer") as c:
        assert c.put("/v1/alarm-rules/X", json=_rule()).status_code == 403
        assert c.get("/v1/alarm-rules").status_code == 200
