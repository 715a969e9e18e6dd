"""GET /v1/nodes/{name}/metrics through a real Prometheus (Debian's) scraping a real node exporter,
both started here; the first Prometheus of the list is down, so the route falls over to the next."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest
from scloud_api.models import Node

from .conftest import free_port

# packages/apt.txt: make install installs both; without them the fixture fails, it does not skip.
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"


def _start(argv, log, ready_url):
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, f"{argv[0]} did not start"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prometheus")
    exporter_port, prom_port = free_port(), free_port()
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: node\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}'], labels: {{node: here}}}}]\n"
    )
    log = (tmp / "log").open("w")
    procs = [
        _start(
            [
                NODE_EXPORTER,
                f"--web.listen-address=127.0.0.1:{exporter_port}",
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.loadavg",
            ],
            log,
            f"http://127.0.0.1:{exporter_port}/metrics",
        )
    ]
    url = f"http://127.0.0.1:{prom_port}"
    procs.append(
        _start(
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            log,
            f"{url}/-/ready",
        )
    )
    yield url
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
    log.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_node_metrics_from_the_first_prometheus_that_answers(api_factory, prometheus):
    dead = f"http://127.0.0.1:{free_port()}"
    api = api_factory(prometheus_urls=[dead, prometheus])
    with api.services.sm.begin() as s:
        s.merge(Node(name="here", roles=["compute"], vcpus=2, memory_mb=4096, up=True, draining=False))
    with api.client("viewer") as c:
        deadline = time.monotonic() + 60
        while True:
            r = c.get("/v1/nodes/here/metrics", params={"minutes": 1, "step": 5})
            assert r.status_code == 200, r.text
            body = r.json()
            if body["series"]["cpu_used_ratio"]:
                break
            assert time.monotonic() < deadline, body
            time.sleep(1)
        assert body["source"] == prometheus and body["step"] == 5
        assert all(0 <= v <= 1 for _, v in body["series"]["cpu_used_ratio"])
        assert all(0 < v <= 1 for _, v in body["series"]["memory_available_ratio"]), body
        assert body["series"]["load1"]
        assert c.get("/v1/nodes/elsewhere/metrics").json()["code"] == "node_not_found"
        assert c.get("/v1/vms/nothing/metrics").status_code == 404
        assert c.get("/v1/nodes/here/metrics", params={"step": 1}).status_code == 422
        assert c.get("/v1/nodes/here/metrics", params={"minutes": 100000}).status_code == 422


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_prometheus_is_a_503_naming_it(api_factory):
    api = api_factory(prometheus_urls=[])
    with api.services.sm.begin() as s:
        s.merge(Node(name="here", roles=["compute"], vcpus=2, memory_mb=4096, up=True, draining=False))
    with api.client("viewer") as c:
        r = c.get("/v1/nodes/here/metrics")
        assert c.get("/v1/overview").json()["code"] == "metrics_unavailable"
    assert r.status_code == 503 and r.json()["code"] == "metrics_unavailable", r.text
    assert "SCLOUD_API_PROMETHEUS_URLS" in r.json()["detail"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_overview_shows_every_node_with_its_figures_and_alarms(api_factory, prometheus):
    """GET /v1/overview: each node of the registry and of Prometheus with its latest figures, the
    alarms firing on it (from the history) and by severity."""
    from .test_alarms import NOTE

    api = api_factory(prometheus_urls=[prometheus])
    with api.services.sm.begin() as s:
        s.merge(Node(name="here", roles=["compute"], vcpus=2, memory_mb=4096, up=True, draining=False))
        s.merge(Node(name="gone", roles=["compute"], vcpus=2, memory_mb=4096, up=False, draining=False))
    note = json.loads(json.dumps(NOTE))
    note["alerts"][0]["labels"]["node"] = "here"
    with api.client("operator") as c:
        assert c.post("/v1/alarms/webhook", json=note).status_code == 200
    with api.client("viewer") as c:
        deadline = time.monotonic() + 60
        while True:
            body = c.get("/v1/overview").json()
            nodes = {n["name"]: n for n in body["nodes"]}
            if nodes["here"]["cpu_used_ratio"] is not None:
                break
            assert time.monotonic() < deadline, body
            time.sleep(1)
    here, gone = nodes["here"], nodes["gone"]
    assert here["known"] and here["up"] is True and 0 <= here["cpu_used_ratio"] <= 1, here
    assert 0 < here["memory_available_ratio"] <= 1 and here["load1"] is not None
    assert here["alarms_firing"] == 1
    assert gone["known"] and gone["up"] is None and gone["cpu_used_ratio"] is None  # nothing scraped
    assert body["alarms_firing"] == {"critical": 1} and body["vms"] == [] and body["source"] == prometheus
