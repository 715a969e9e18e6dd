"""API overhead, side by side: the same playbook through scloud-api and through ansible-runner.

1. ``diagnostics.yml`` against localhost, N times each way, alternating: ansible-runner directly
   (``ansible_runner.run``) and a job through a real ``scloud-api serve`` (POST, then poll until the
   job ends, 20 ms period). Ratio of median wall times.
2. Callback latency: the job's ``finished_at`` to the arrival of its signed callback on loopback.
3. Request rates (``GET /v1/jobs/{id}``, ``/healthz``, ``POST /v1/jobs``) on one and N processes,
   and where a request's time goes: ``benchmarks/api/rates.py``.

Writes ``benchmarks/api/RESULTS.md`` (and ``results.json``). ``--rates-only`` measures 3 again and
keeps the last figures of 1 and 2.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ansible_runner
import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "api"))
from scloud_api.executor import runner_env  # noqa: E402
from scloud_api.settings import Settings  # noqa: E402

sys.path.insert(0, str(HERE))
import rates  # noqa: E402

RUNS = int(os.environ.get("BENCH_API_RUNS", "5"))
CLI = str(Path(sys.executable).parent / "scloud-api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self):
        self.arrivals: dict[str, float] = {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.arrivals[json.loads(body)["data"]["id"]] = time.time()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def direct_run(inventory: Path, env: dict) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as pdd:
        start = time.perf_counter()
        r = ansible_runner.run(
            private_data_dir=pdd,
            playbook=str(REPO / "playbooks/diagnostics.yml"),
            project_dir=str(REPO / "playbooks"),
            inventory=str(inventory),
            envvars=env,
            quiet=True,
            settings={"suppress_ansible_output": True},
        )
        elapsed = time.perf_counter() - start
    assert r.status == "successful", r.status
    return elapsed


def api_run(client: httpx.Client, callback: str) -> tuple[float, str]:
    start = time.perf_counter()
    job = client.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": callback}).json()
    while job["status"] not in ("successful", "failed", "canceled", "timeout"):
        time.sleep(0.02)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    elapsed = time.perf_counter() - start
    assert job["status"] == "successful", job
    return elapsed, job["id"]


def main(argv: list[str]) -> int:
    if "--rates-only" in argv:
        previous = json.loads((HERE / "results.json").read_text())
        return write(previous["overhead_md"], previous)
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    inventory = work / "hosts.ini"
    inventory.write_text(
        "[lab]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
    )
    env = {
        **os.environ,
        "SCLOUD_API_STATE_DIR": str(work / "state"),
        "SCLOUD_API_INVENTORY": str(inventory),
        "SCLOUD_API_LOG_LEVEL": "WARNING",
        "SCLOUD_API_CALLBACK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',  # the receiver below
    }
    runner_envvars = runner_env(Settings(state_dir=work / "state"))
    token = subprocess.run(
        [CLI, "keys", "create", "--role", "operator", "-q"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [CLI, "serve", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    rx = Receiver()
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        direct_run(inventory, runner_envvars)  # warm the caches both ways once
        api_run(client, rx.url)
        direct, via_api, latencies, job_ids = [], [], [], []
        for _ in range(RUNS):
            direct.append(direct_run(inventory, runner_envvars))
            t, job_id = api_run(client, rx.url)
            via_api.append(t)
            job_ids.append(job_id)
        time.sleep(1)
        for job_id in job_ids:
            job = client.get(f"/v1/jobs/{job_id}").json()
            finished = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()
            latencies.append((rx.arrivals[job_id] - finished) * 1000)

    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        rx.server.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    med_d, med_a = statistics.median(direct), statistics.median(via_api)
    results = {
        "runs": RUNS,
        "direct_s": direct,
        "api_s": via_api,
        "ratio": med_a / med_d,
        "callback_latency_ms": latencies,
    }
    load = os.getloadavg()[0]
    lines = [
        "## api",
        "",
        f"`benchmarks/api/run.py`, {datetime.now().strftime('%Y-%m-%d %H:%M')} UTC, {platform.node()}, "
        f"Python {platform.python_version()}, SQLite, in-process executor, {RUNS} runs each way, alternated; "
        f"1-min load average {load:.1f} (5 agents share the machine).",
        "",
        "| what | median | min | max |",
        "| --- | --- | --- | --- |",
        f"| `diagnostics.yml` through ansible-runner directly | {med_d:.2f} s | {min(direct):.2f} s | "
        f"{max(direct):.2f} s |",
        f"| the same as a job through `scloud-api` (POST, poll 20 ms until it ends) | {med_a:.2f} s | "
        f"{min(via_api):.2f} s | {max(via_api):.2f} s |",
        f"| callback latency (job `finished_at` -> signed POST received) | "
        f"{statistics.median(latencies):.1f} ms | {min(latencies):.1f} ms | {max(latencies):.1f} ms |",
        "",
        f"**API / direct wall-time ratio: {med_a / med_d:.2f}** (the API adds a database row per runner "
        "event, the queue hand-off and the polling period).",
        "",
    ]
    return write(lines, results)


def write(overhead_md: list[str], results: dict) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-api-rates-"))
    try:
        rates_results = rates.measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [*overhead_md, *rates.section(rates_results, when), *rates.PROFILE_BEFORE_AFTER]
    (HERE / "results.json").write_text(
        json.dumps(
            {**results, "overhead_md": overhead_md, "rates": {"when": when, **rates_results}}, indent=2
        )
    )
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
