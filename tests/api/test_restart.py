"""Kill the API process (a real `scloud-api serve`) during a job, start it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from scloud_api.callbacks import verify
from scloud_api.db import make_engine, make_sessionmaker
from scloud_api.models import Job, JobEvent
from sqlalchemy import func, select

from .conftest import free_port
from .receiver import Receiver
from .test_job_isolation import _environ, job_processes, sleep_seconds, sleeps, wait_for
from .test_jobs import _pgid_members

CLI = str(Path(sys.executable).parent / "scloud-api")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _serve(env, port):
    proc = subprocess.Popen(
        [CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-3000:])
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("scloud-api serve did not answer")


def _env(tmp_path, db_url, inventory) -> dict[str, str]:
    return {
        **os.environ,
        "SCLOUD_API_STATE_DIR": str(tmp_path / "state"),
        "SCLOUD_API_DATABASE_URL": db_url,
        "SCLOUD_API_INVENTORY": str(inventory),
        "SCLOUD_API_NODE_NAME": "api-under-test",
        "SCLOUD_API_WEBHOOK_SECRET": SECRET,
        "SCLOUD_API_CALLBACK_BACKOFF_INITIAL": "0.05",
        "SCLOUD_API_CALLBACK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        "SCLOUD_API_LOG_LEVEL": "INFO",
    }


def _operator_key(env) -> str:
    return subprocess.run(
        [CLI, "keys", "create", "--role", "operator", "--quiet"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_kill_api_during_job_then_restart(tmp_path, db_url, inventory):
    env = _env(tmp_path, db_url, inventory)
    seconds = sleep_seconds()
    token = _operator_key(env)
    assert token.startswith("scl_")
    listed = subprocess.run([CLI, "keys", "list"], env=env, check=True, capture_output=True, text=True).stdout
    assert "operator" in listed and token not in listed
    sm = make_sessionmaker(make_engine(db_url))
    port = free_port()
    hdr = {"Authorization": f"Bearer {token}"}
    with Receiver([200]) as rx:
        proc = _serve(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            r = httpx.post(
                f"{base}/v1/jobs",
                headers={**hdr, "X-Callback-URL": rx.url},
                json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": seconds}},
            )
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            deadline = time.monotonic() + 60
            while True:
                with sm() as s:
                    job = s.get(Job, job_id)
                    sleeping = s.scalar(
                        select(func.count())
                        .select_from(JobEvent)
                        .where(
                            JobEvent.job_id == job_id,
                            JobEvent.task == "Sleep",
                            JobEvent.event == "runner_on_start",
                        )
                    )
                if job.status == "running" and job.pid and sleeping:
                    break
                assert time.monotonic() < deadline, job.status
                time.sleep(0.2)
            with sm() as s:
                events_before = s.scalar(
                    select(func.count()).select_from(JobEvent).where(JobEvent.job_id == job_id)
                )
            pid = job.pid
            wait_for(lambda: sleeps(seconds), 30, "the sleep task started no sleep")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            assert _pgid_members(pid), "ansible-playbook outlives the killed API (its own session)"
            orphans = sleeps(seconds)
            assert orphans, "the sleep outlives the killed API (a worker's session)"
            # The API's settings and secrets were in its environment, never in the job's.
            assert not [k for k in _environ(orphans[0]) if k.startswith("SCLOUD_API_")]
            with sm() as s:
                assert s.get(Job, job_id).status == "running"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        jobs_dir = tmp_path / "state" / "jobs"
        assert (jobs_dir / job_id / "env").is_dir(), "the killed API could not remove the job's data"
        stray = jobs_dir / "0b6c1f5e-0000-4000-8000-000000000000" / "env"  # no such job
        stray.mkdir(parents=True)
        (stray / "extravars").write_text("{}")
        proc = _serve(env, port)
        try:
            # recover() ran before the API answered: the job's processes and data are gone.
            assert sleeps(seconds) == [] and job_processes(job_id) == []
            assert not (jobs_dir / job_id).exists() and not stray.parent.exists()
            job = httpx.get(f"http://127.0.0.1:{port}/v1/jobs/{job_id}", headers=hdr).json()
            assert job["status"] == "failed" and job["reason"] == "interrupted", job
            assert job["finished_at"]
            call = rx.wait_calls(1)[0]
            assert verify(SECRET, call["headers"], call["body"])
            body = json.loads(call["body"])
            assert body["type"] == "job.failed"
            assert body["data"]["id"] == job_id and body["data"]["reason"] == "interrupted"
            assert _pgid_members(pid) == [], "the orphaned ansible-playbook is killed at restart"
            with sm() as s:
                events_after = s.scalar(
                    select(func.count()).select_from(JobEvent).where(JobEvent.job_id == job_id)
                )
            assert events_after == events_before >= 5, "no record lost"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        logs = [json.loads(line) for line in proc.stderr.read().decode().splitlines() if line.startswith("{")]
        assert any(rec["msg"] == "job interrupted by an API restart" for rec in logs)
        assert any(rec["msg"] == "killed the processes of the interrupted job" for rec in logs)
        assert any(rec["msg"] == "request" and rec.get("status") == 200 for rec in logs)


def test_stop_api_during_job(tmp_path, db_url, inventory):
    """SIGTERM (systemctl stop): the running job ends failed/interrupted with every process it
    started, and its data dir, before the API exits."""
    env = _env(tmp_path, db_url, inventory)
    hdr = {"Authorization": f"Bearer {_operator_key(env)}"}
    seconds = sleep_seconds()
    port = free_port()
    proc = _serve(env, port)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/jobs",
            headers=hdr,
            json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": seconds}},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        (sleep_pid,) = wait_for(lambda: sleeps(seconds), 90, "the sleep never started")
        assert not [k for k in _environ(sleep_pid) if k.startswith("SCLOUD_API_")]
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert sleeps(seconds) == [] and job_processes(job_id) == []
    assert not (tmp_path / "state" / "jobs" / job_id).exists()
    with make_sessionmaker(make_engine(db_url))() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.reason) == ("failed", "interrupted")
