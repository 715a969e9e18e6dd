"""Request rates of scloud-api on loopback, and where a request's time goes.

Real ``scloud-api serve`` processes (as an operator starts them: default log level, access log on,
SQLite in the state dir) measured with ``wrk`` (Debian package):

- ``GET /v1/jobs/{id}`` with a viewer key (the key lookup, the job and its callback attempts) and
  ``GET /healthz``, with 16 and 64 connections, on one process and on N processes (one per core,
  each on its own port with its own node name, one ``wrk`` per port; rates added, the worst
  p50/p99 of the processes shown);
- ``POST /v1/jobs`` (``check: true``): jobs accepted per second by one process;
- a profile of one process serving ``GET /v1/jobs/{id}`` (py-spy, if installed), grouped by what
  the time was spent on.

Every figure comes with the 1-min load average of the machine when it was taken and the server's
CPU time per request (from /proc), which moves less with the load of the machine than the rate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).parent / "scloud-api")
DURATION = int(os.environ.get("BENCH_API_WRK_SECONDS", "10"))
PROCESSES = os.cpu_count() or 2

# What a sample of the profile is charged to: the frame nearest the leaf whose file matches.
CATEGORIES = [
    ("database reads (key, job, attempts)", ("scloud_api/reads.py",)),
    (
        "job to JSON (job_public, pydantic)",
        ("scloud_api/service.py", "serialize_response", "fastapi/_compat"),
    ),
    ("access log line (logging)", ("logging/__init__.py", "scloud_api/logs.py")),
    ("metrics, request id", ("prometheus_client/", "uuid.py")),
    (
        "auth and dependency resolution (FastAPI)",
        ("scloud_api/deps.py", "fastapi/dependencies", "fastapi/security"),
    ),
    (
        "routing, endpoint plumbing (FastAPI, Starlette)",
        ("fastapi/routing.py", "starlette/routing.py", "starlette/responses.py", "scloud_api/routes/"),
    ),
    (
        "middlewares (body limit, access log, errors)",
        (
            *("scloud_api/app.py", "starlette/middleware", "fastapi/middleware", "fastapi/_body_limit"),
            *("fastapi/telemetry", "starlette/_exception_handler", "applications.py"),
        ),
    ),
    ("HTTP server (uvicorn, httptools)", ("uvicorn/",)),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> float:
    return os.getloadavg()[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, env: dict, log: Path, node: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [CLI, "serve", "--port", str(self.port)],
            env={**env, "SCLOUD_API_NODE_NAME": node},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"scloud-api did not start (see {log})")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(60)


def _parse_wrk(out: str) -> dict:
    def num(pattern: str) -> float | None:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else None

    def ms(label: str) -> float | None:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": num(r"Requests/sec:\s+([\d.]+)"),
        "requests": int(num(r"(\d+) requests in") or 0),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "non_2xx": int(num(r"Non-2xx or 3xx responses:\s+(\d+)") or 0),
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def wrk(
    servers: list[Server], path: str, conns: int, token: str | None, seconds: int = DURATION, script=None
):
    """One wrk per server at once (conns split among them); rates added, worst latencies kept."""
    each = max(1, conns // len(servers))
    argv_tail = ["--latency", f"-c{each}", f"-t{min(2, each) if len(servers) == 1 else 1}", f"-d{seconds}s"]
    if token:
        argv_tail += ["-H", f"Authorization: Bearer {token}"]
    if script:
        argv_tail += ["-s", str(script)]
    before = load()
    cpu0 = [cpu_seconds(s.proc.pid) for s in servers]
    procs = [
        subprocess.Popen(["wrk", *argv_tail, f"{s.url}{path}"], stdout=subprocess.PIPE, text=True)
        for s in servers
    ]
    outs = [p.communicate()[0] for p in procs]
    cpu = sum(cpu_seconds(s.proc.pid) - c for s, c in zip(servers, cpu0, strict=True))
    runs = [_parse_wrk(o) for o in outs]
    requests = sum(r["requests"] for r in runs)
    return {
        "rps": sum(r["rps"] or 0 for r in runs),
        "p50_ms": max(r["p50_ms"] or 0 for r in runs),
        "p99_ms": max(r["p99_ms"] or 0 for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "requests": requests,
        "cpu_us_per_request": cpu / requests * 1e6 if requests else None,
        "load_before": before,
        "load_after": load(),
        "raw": outs,
    }


def profile(server: Server, path: str, token: str, seconds: int = 8) -> dict | None:
    """py-spy samples of the server (only while it holds the GIL, i.e. runs Python) under wrk."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return None
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    load_wrk = subprocess.Popen(
        [
            "wrk",
            "-c16",
            "-t2",
            f"-d{seconds + 3}s",
            "-H",
            f"Authorization: Bearer {token}",
            f"{server.url}{path}",
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(1)
    subprocess.run(
        [spy, "record", "-p", str(server.proc.pid), "-d", str(seconds), "-r", "200", "--gil",
         "--nonblocking", "--format", "raw", "-o", str(raw)],
        check=True, capture_output=True,
    )  # fmt: skip
    load_wrk.wait()
    charged: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not any("RequestResponseCycle.run_asgi" in f or "HttpToolsProtocol" in f for f in frames):
            charged["outside requests (executor, callbacks, idle loop)"] += int(n)
            continue
        for frame in reversed(frames):
            cat = next((c for c, marks in CATEGORIES if any(m in frame for m in marks)), None)
            if cat:
                charged[cat] += int(n)
                break
        else:
            charged["event loop, other"] += int(n)
    raw.unlink()
    return dict(charged)


def measure(work: Path) -> dict:
    inventory = work / "hosts.ini"
    inventory.write_text(
        "[lab]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
    )
    env = {
        **os.environ,
        "SCLOUD_API_STATE_DIR": str(work / "state"),
        "SCLOUD_API_INVENTORY": str(inventory),
        # The job's callback goes to a closed port on loopback; callbacks are refused by default.
        "SCLOUD_API_CALLBACK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    }
    env.pop("SCLOUD_API_LOG_LEVEL", None)  # the default (INFO): one access log line per request

    def key(role: str) -> str:
        argv = [CLI, "keys", "create", "--role", role, "-q"]
        return subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout.strip()

    viewer, operator = key("viewer"), key("operator")
    log = work / "api.log"
    servers = [Server(env, log, "bench-0")]
    results: dict = {"processes": PROCESSES, "seconds": DURATION}
    try:
        base = servers[0].url
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {operator}"}, timeout=30) as c:
            # A finished job with callback attempts: the receiver address refuses connections.
            job = c.post(
                "/v1/jobs",
                json={"playbook": "diagnostics", "callback_url": f"http://127.0.0.1:{free_port()}/x"},
            ).json()
            while (
                job["status"] not in ("successful", "failed", "canceled", "timeout")
                or len(job["callback_attempts"]) < 2
            ):
                time.sleep(0.2)
                job = c.get(f"/v1/jobs/{job['id']}").json()
            results["job_bytes"] = len(c.get(f"/v1/jobs/{job['id']}").content)
        job_path = f"/v1/jobs/{job['id']}"
        wrk(servers, job_path, 16, viewer, seconds=3)  # warm up
        for n_proc in (1, PROCESSES):
            while len(servers) < n_proc:
                servers.append(Server(env, log, f"bench-{len(servers)}"))
            group = servers[:n_proc]
            for conns in (16, 64):
                results[f"get_job/{n_proc}/{conns}"] = wrk(group, job_path, conns, viewer)
                results[f"healthz/{n_proc}/{conns}"] = wrk(group, "/healthz", conns, None)
        results["profile_get_job"] = profile(servers[0], job_path, viewer)
        script = work / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            'wrk.body = \'{"playbook": "diagnostics", "check": true}\'\n'
        )
        results["post_job"] = wrk(servers[:1], "/v1/jobs", 16, operator, seconds=5, script=script)
    finally:
        for s in servers:
            s.stop()
    return results


def _row(label: str, r: dict) -> str:
    return (
        f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
        f"{r['cpu_us_per_request']:.0f} us | {r['non_2xx'] + r['socket_errors']} | "
        f"{r['load_before']:.1f} / {r['load_after']:.1f} |"
    )


def section(results: dict, when: str) -> list[str]:
    n = results["processes"]
    lines = [
        "### Request rates (one process, N processes)",
        "",
        f"`benchmarks/api/rates.py`, {when}: real `scloud-api serve` processes (uvloop, httptools, "
        "default log level: one JSON access log line per request, to a file), SQLite, loopback, "
        f"`wrk --latency -d{results['seconds']}s`; a finished job of {results['job_bytes']} bytes with "
        f"its callback attempts, read with a viewer key. N = {n} processes (one per core), each on "
        "its own port, one `wrk` per port: rates added, worst p50/p99 shown. The machine's 2 cores "
        "are shared with `wrk` and with other engineers' test runs: the load average (1 min, before "
        "/ after) is given with each figure, and the server CPU time per request (from /proc), "
        "which moves less with that load than the rate.",
        "",
        "| route, processes x connections | requests/s | p50 | p99 | server CPU / request | errors | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for route, label in (("get_job", "`GET /v1/jobs/{id}`"), ("healthz", "`GET /healthz`")):
        for n_proc in (1, n):
            for conns in (16, 64):
                lines.append(_row(f"{label}, {n_proc} x {conns}", results[f"{route}/{n_proc}/{conns}"]))
    post = results["post_job"]
    accepted = (post["requests"] - post["non_2xx"]) / 5
    lines += [
        _row("`POST /v1/jobs` (`check: true`), 1 x 16", post),
        "",
        f"POST: {accepted:.0f} jobs accepted (`202`) per second; each is a row in the database and an "
        "entry of the executor queue (up to 2 run meanwhile); non-2xx answers are refusals of a full "
        "queue, if any.",
        "",
    ]
    prof = results.get("profile_get_job")
    if prof:
        total = sum(v for k, v in prof.items() if not k.startswith("outside"))
        lines += [
            "Where one process spends a `GET /v1/jobs/{id}` now (py-spy, samples while the server runs "
            "Python, charged to the frame nearest the leaf that matches):",
            "",
            "| part | share |",
            "| --- | --- |",
        ]
        for cat, v in sorted(prof.items(), key=lambda kv: -kv[1]):
            if not cat.startswith("outside"):
                lines.append(f"| {cat} | {100 * v / total:.0f}% |")
        lines.append("")
    return lines


def main() -> int:
    """Measure and print the section only (``run.py`` writes RESULTS.md and results.json)."""
    work = Path(tempfile.mkdtemp(prefix="bench-api-rates-"))
    try:
        results = measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(section(results, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))))
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict) or "raw" not in v}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
