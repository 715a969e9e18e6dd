"""The Celery executor against a real RabbitMQ broker and two real ``scloud-api worker`` processes.

The broker is Debian's ``rabbitmq-server`` started by this module (as root, every path in a temp
dir, its own node name, cookie, AMQP port and epmd port on 127.0.0.1), the database the session's
PostgreSQL server; the API runs in-process with ``executor=celery`` and runs no job itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import kombu
import pytest
from scloud_api.callbacks import verify
from scloud_api.models import Job, JobEvent
from sqlalchemy import select

from tests.integration.engines.rabbitmq import Broker, running_broker

from .conftest import REPO, free_port, make_settings
from .receiver import Receiver
from .test_job_isolation import _environ, job_processes, sleep_seconds, sleeps, wait_for

SCLOUD_API = Path(sys.executable).parent / "scloud-api"
LEASE = 3.0


# The broker ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rabbitmq():
    with running_broker() as broker:
        yield broker


def queue_consumers(url: str, queue: str) -> int:
    try:
        with kombu.Connection(url, connect_timeout=2) as conn:
            return conn.default_channel.queue_declare(queue=queue, passive=True).consumer_count
    except Exception:
        return 0  # not declared yet


@pytest.fixture
def db_url(postgres_server) -> str:
    """The API and its workers share one database, as on several nodes: PostgreSQL only."""
    return postgres_server.create_database()


# The workers -----------------------------------------------------------------------------------------
@dataclass
class WorkerProc:
    name: str
    proc: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Cluster:
    def __init__(self, api_factory, tmp_path: Path, db_url: str, inventory: Path, broker: Broker):
        self.tmp_path, self.db_url, self.inventory, self.broker = tmp_path, db_url, inventory, broker
        self.queue = f"scloud-test-{uuid.uuid4().hex[:8]}"
        self.api = api_factory(
            executor="celery",
            broker_url=broker.url,
            celery_queue=self.queue,
            job_lease_seconds=LEASE,
        )
        self.workers: dict[str, WorkerProc] = {}

    def env(self, name: str) -> dict[str, str]:
        s = self.api.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCLOUD_API_")}
        env.update(
            SCLOUD_API_EXECUTOR="celery",
            SCLOUD_API_BROKER_URL=self.broker.url,
            SCLOUD_API_CELERY_QUEUE=self.queue,
            SCLOUD_API_DATABASE_URL=self.db_url,
            SCLOUD_API_STATE_DIR=str(self.tmp_path / name),
            SCLOUD_API_NODE_NAME=name,
            SCLOUD_API_INVENTORY=str(self.inventory),
            SCLOUD_API_MAX_CONCURRENT_JOBS="1",
            SCLOUD_API_JOB_LEASE_SECONDS=str(LEASE),
            SCLOUD_API_WEBHOOK_SECRET=s.webhook_secret.get_secret_value(),
            SCLOUD_API_CALLBACK_BACKOFF_INITIAL=str(s.callback_backoff_initial),
            SCLOUD_API_CALLBACK_BACKOFF_MAX=str(s.callback_backoff_max),
            SCLOUD_API_CALLBACK_MAX_ATTEMPTS=str(s.callback_max_attempts),
            SCLOUD_API_CALLBACK_ALLOWED_NETWORKS=json.dumps(s.callback_allowed_networks),
            SCLOUD_API_LOG_LEVEL="INFO",
        )
        return env

    def start_workers(self, *names: str) -> None:
        before = queue_consumers(self.broker.url, self.queue)
        for name in names:
            log = self.tmp_path / f"{name}.log"
            proc = subprocess.Popen(
                [str(SCLOUD_API), "worker", "--loglevel", "INFO"],
                cwd=REPO,
                env=self.env(name),
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.workers[name] = WorkerProc(name, proc, log)
        deadline = time.monotonic() + 60
        while queue_consumers(self.broker.url, self.queue) < before + len(names):
            for w in self.workers.values():
                assert w.proc.poll() is None, f"worker {w.name} exited:\n{w.tail()}"
            assert time.monotonic() < deadline, "workers not consuming:\n" + "\n".join(
                w.tail() for w in self.workers.values()
            )
            time.sleep(0.3)

    def stop(self) -> None:
        for w in self.workers.values():
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in self.workers.values():
            try:
                w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(w.proc.pid, signal.SIGKILL)
                w.proc.wait()

    def job_row(self, job_id: str) -> Job:
        with self.api.services.sm() as s:
            return s.get(Job, job_id)


@pytest.fixture
def cluster(api_factory, tmp_path, db_url, inventory, rabbitmq):
    c = Cluster(api_factory, tmp_path, db_url, inventory, rabbitmq)
    try:
        yield c
    finally:
        c.stop()


def submit(api, n: int, callback_url: str | None, **extra) -> list[str]:
    ids = []
    with api.client() as c:
        for _ in range(n):
            body = {"playbook": "diagnostics", "extra_vars": extra}
            if callback_url:
                body["callback_url"] = callback_url
            r = c.post("/v1/jobs", json=body)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


# Tests -----------------------------------------------------------------------------------------------
def test_two_workers_share_the_jobs_and_send_the_callbacks(cluster):
    cluster.start_workers("worker-a", "worker-b")
    api = cluster.api
    assert api.services.executor.__class__.__name__ == "CeleryExecutor"
    secret = api.settings.webhook_secret.get_secret_value()
    n = 6
    with Receiver() as rx:
        started = time.monotonic()
        ids = submit(api, n, rx.url, diagnostics_sleep=1)
        jobs = [api.wait(i, timeout=180) for i in ids]
        elapsed = time.monotonic() - started
        calls = rx.wait_calls(n)
        # Duplicate messages (as an API restart re-publishes its queued jobs) change nothing.
        for job_id in ids[:2]:
            api.services.executor.submit(job_id)
        time.sleep(3)
        assert len(rx.calls) == n, "one callback per job"
    assert all(j["status"] == "successful" and j["rc"] == 0 for j in jobs), jobs
    rows = [cluster.job_row(i) for i in ids]
    nodes = {r.node for r in rows}
    assert nodes == {"worker-a", "worker-b"}, f"both workers ran jobs: {[r.node for r in rows]}"
    assert all(r.attempts == 1 for r in rows), "a duplicate message never runs a job again"
    handled = [
        json.loads(line)
        for w in cluster.workers.values()
        for line in w.log.read_text().splitlines()
        if line.startswith("{") and '"job message handled"' in line
    ]
    assert sorted(h["outcome"] for h in handled) == ["ran"] * n + ["terminal"] * 2, handled
    assert api.settings.node_name not in nodes, "the API itself runs no job"
    for call in calls:
        assert verify(secret, call["headers"], call["body"])
    delivered = {json.loads(c["body"])["data"]["id"]: json.loads(c["body"])["type"] for c in calls}
    assert delivered == {i: "job.successful" for i in ids}
    # Events were stored by the workers, in order, through the same code path as the local executor.
    with api.client("viewer") as c:
        events = c.get(f"/v1/jobs/{ids[0]}/events", params={"limit": 500}).json()["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {"playbook_on_start", "runner_on_ok", "playbook_on_stats"} <= {e["event"] for e in events}
    per_node = {name: sum(r.node == name for r in rows) for name in ("worker-a", "worker-b")}
    print(
        f"\ncelery executor: {n} jobs (1 s sleep each) on 2 workers x 1 slot in {elapsed:.1f}s "
        f"= {n / elapsed:.2f} jobs/s; per worker {per_node}"
    )
    with api.client("viewer") as c:
        health = c.get("/healthz").json()
    assert health["status"] == "ok" and health["executor"]["running"] == 0


def test_killed_worker_job_is_taken_over_by_the_other(cluster):
    cluster.start_workers("worker-a", "worker-b")
    api = cluster.api
    with Receiver() as rx:
        (job_id,) = submit(api, 1, rx.url, diagnostics_sleep=6)
        deadline = time.monotonic() + 90
        while True:  # wait until the sleep task runs on one worker
            row = cluster.job_row(job_id)
            with api.services.sm() as s:
                sleeping = s.scalar(
                    select(JobEvent.id).where(
                        JobEvent.job_id == job_id,
                        JobEvent.event == "runner_on_start",
                        JobEvent.task == "Sleep",
                    )
                )
            if sleeping and row.pid:
                break
            assert time.monotonic() < deadline, f"job never reached the sleep task: {row.status}"
            time.sleep(0.1)
        victim, survivor = row.node, ({"worker-a", "worker-b"} - {row.node}).pop()
        ansible_pid = row.pid
        cluster.workers[victim].proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        cluster.workers[victim].proc.wait(timeout=10)

        # The broker gives the unacknowledged message to the survivor at once; it takes the job
        # over when the victim's lease has expired (no heartbeat for LEASE seconds).
        while (row := cluster.job_row(job_id)).attempts < 2:
            assert time.monotonic() - killed_at < 60, f"not taken over: {row.status} on {row.node}"
            time.sleep(0.05)
        takeover = time.monotonic() - killed_at
        job = api.wait(job_id, timeout=120)
        done = time.monotonic() - killed_at
        calls = rx.wait_calls(1)
        time.sleep(0.5)
        assert len(rx.calls) == 1, "one callback for the job"

    assert job["status"] == "successful", job
    row = cluster.job_row(job_id)
    assert row.node == survivor and row.attempts == 2
    assert json.loads(calls[0]["body"])["data"]["id"] == job_id
    assert json.loads(calls[0]["body"])["type"] == "job.successful"
    # The interrupted attempt's events stay; a marker names the new attempt; seq stays unique.
    with api.client("viewer") as c:
        events = c.get(f"/v1/jobs/{job_id}/events", params={"limit": 500}).json()["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    marks = [e for e in events if e["event"] == "executor_takeover"]
    assert len(marks) == 1 and marks[0]["data"] == {"attempt": 2, "node": survivor}
    assert sum(e["event"] == "playbook_on_start" for e in events) == 2
    assert sum(e["event"] == "playbook_on_stats" for e in events) == 1
    # The killed worker's ansible-playbook lost its pty and died with it (SIGHUP): no orphan.
    deadline = time.monotonic() + 10
    while (
        Path(f"/proc/{ansible_pid}").exists()
        and b"ansible" in Path(f"/proc/{ansible_pid}/cmdline").read_bytes()
    ):
        assert time.monotonic() < deadline, f"ansible-playbook {ansible_pid} survived its worker"
        time.sleep(0.2)
    # The lease bounds the takeover: at least LEASE after the last heartbeat, well under 3 leases.
    assert takeover < 3 * LEASE + 3, takeover
    print(
        f"\nworker SIGKILL mid-job: taken over by {survivor} after {takeover:.1f}s "
        f"(lease {LEASE:.0f}s), job successful {done:.1f}s after the kill"
    )


def test_cancel_reaches_the_worker(cluster):
    cluster.start_workers("worker-a")
    api = cluster.api
    seconds = sleep_seconds()
    (job_id,) = submit(api, 1, None, diagnostics_sleep=seconds)
    wait_for(lambda: sleeps(seconds), 90, "the job's sleep never started")
    t0 = time.monotonic()
    with api.client() as c:
        assert c.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    job = api.wait(job_id, timeout=60)
    assert job["status"] == "canceled" and job["reason"] == "canceled", job
    assert cluster.job_row(job_id).node == "worker-a"
    assert sleeps(seconds) == [] and job_processes(job_id) == []
    print(f"\ncancel through the API stopped the job on the worker in {time.monotonic() - t0:.1f}s")


def test_killed_worker_leaves_no_process_after_the_takeover(cluster):
    """The processes of the dead worker's attempt (Ansible's workers and their sleep outlive it) are
    killed when another worker on the host takes the job over; a cancel then kills the new one's."""
    cluster.start_workers("worker-a", "worker-b")
    api = cluster.api
    seconds = sleep_seconds()
    (job_id,) = submit(api, 1, None, diagnostics_sleep=seconds)
    (first,) = wait_for(lambda: sleeps(seconds), 90, "the job's sleep never started")
    victim = cluster.job_row(job_id).node
    cluster.workers[victim].proc.send_signal(signal.SIGKILL)
    cluster.workers[victim].proc.wait(timeout=10)
    time.sleep(1)
    assert sleeps(seconds) == [first], "the sleep outlives its worker"
    wait_for(lambda: cluster.job_row(job_id).attempts >= 2, 60, "not taken over")
    # Killed by the worker that took the job over, before it started the playbook again.
    second = wait_for(
        lambda: [pid for pid in sleeps(seconds) if pid != first and _environ(pid)],
        90,
        "the second attempt's sleep never started",
    )
    assert first not in sleeps(seconds)
    assert {_environ(pid).get("SCLOUD_JOB_ATTEMPT") for pid in job_processes(job_id)} == {"2"}
    with api.client() as c:
        assert c.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    assert api.wait(job_id, timeout=60)["status"] == "canceled"
    assert sleeps(seconds) == [] and job_processes(job_id) == [], second


def test_local_executor_figure_for_comparison(api_factory):
    """The same workload on the default in-process executor (2 slots), for docs/api.md."""
    api = api_factory(max_concurrent_jobs=2)
    assert api.services.executor.__class__.__name__ == "InProcessExecutor"
    n = 6
    started = time.monotonic()
    ids = submit(api, n, None, diagnostics_sleep=1)
    jobs = [api.wait(i, timeout=180) for i in ids]
    elapsed = time.monotonic() - started
    assert all(j["status"] == "successful" for j in jobs)
    print(
        f"\nlocal executor: {n} jobs (1 s sleep each), 2 slots, in {elapsed:.1f}s = {n / elapsed:.2f} jobs/s"
    )


def test_broker_down_fails_the_job_with_503(api_factory, tmp_path):
    api = api_factory(
        executor="celery", broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//", celery_queue="none"
    )
    with api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics"})
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "broker_unavailable"
        jobs = c.get("/v1/jobs").json()["items"]
    assert [(j["status"], j["reason"]) for j in jobs] == [("failed", "broker_unavailable")]


def test_settings_need_a_broker_for_celery(tmp_path, inventory):
    with pytest.raises(ValueError, match="SCLOUD_API_BROKER_URL is required"):
        make_settings(tmp_path, "sqlite://", inventory, executor="celery")
    with pytest.raises(ValueError, match="executor"):
        make_settings(tmp_path, "sqlite://", inventory, executor="threads")


def test_worker_cli_needs_the_celery_executor(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCLOUD_API_")}
    env["SCLOUD_API_STATE_DIR"] = str(tmp_path)
    out = subprocess.run([str(SCLOUD_API), "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "SCLOUD_API_EXECUTOR=celery" in out.stderr, out.stderr
    env["SCLOUD_API_EXECUTOR"] = "celery"
    out = subprocess.run([str(SCLOUD_API), "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "SCLOUD_API_BROKER_URL is required" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
