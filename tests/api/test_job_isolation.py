"""A job is isolated on the API host: it ends with every process it started, it never sees the API's
own environment, and its private data dir does not outlive it (real ansible-runner, real processes).

The ``diagnostics`` playbook runs ``sleep <n>`` through ansible.builtin.command on localhost, in a
per-host worker that ansible-core 2.19 starts in a session of its own: ansible-runner's cancel and
timeout (SIGKILL to ansible-playbook's process group) do not reach it. Each test sleeps a number of
seconds of its own, so it finds its own ``sleep`` and no other test's.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest
import yaml
from scloud_api.models import Job, JobEvent
from sqlalchemy import select


def sleep_seconds() -> int:
    return 1000 + secrets.randbelow(2500)  # the catalogue allows up to 3600


def _environ(pid: int) -> dict[str, str]:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.decode(errors="replace").partition("=")[::2] for item in data.split(b"\0") if item)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def sleeps(seconds: int) -> list[int]:
    """The live ``sleep <seconds>`` processes of this host."""
    want = f"sleep\0{seconds}\0".encode()
    found = []
    for pid in _pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == want and _alive(pid):
                found.append(pid)
        except OSError:
            pass
    return found


def job_processes(job_id: str) -> list[int]:
    """The live processes whose environment carries the job's marker."""
    return [pid for pid in _pids() if _environ(pid).get("SCLOUD_JOB_ID") == job_id and _alive(pid)]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def start_sleep_job(api, seconds: int) -> tuple[str, list[int]]:
    with api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": seconds}})
        assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    t0 = time.monotonic()
    pids = wait_for(lambda: sleeps(seconds), 90, f"sleep {seconds} never started")
    print(f"\nsleep {seconds} started {time.monotonic() - t0:.1f}s after the job was created")
    return job_id, pids


def test_cancel_kills_the_workers_and_their_children(api):
    seconds = sleep_seconds()
    job_id, (sleep_pid,) = start_sleep_job(api, seconds)
    with api.services.sm() as s:
        ansible_pid = s.get(Job, job_id).pid
    assert ansible_pid and _alive(ansible_pid)
    # The hard case: the sleep is in a session (so a process group) other than ansible-playbook's.
    assert os.getsid(sleep_pid) != os.getsid(ansible_pid)
    env = _environ(sleep_pid)
    assert env["SCLOUD_JOB_ID"] == job_id and env["SCLOUD_JOB_ATTEMPT"] == "1"
    pdd = api.settings.jobs_dir / job_id
    assert (pdd / "env").is_dir()
    marked = job_processes(job_id)
    assert {sleep_pid, ansible_pid} <= set(marked)

    t0 = time.monotonic()
    with api.client() as c:
        assert c.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    job = api.wait(job_id, timeout=30)
    took = time.monotonic() - t0
    assert job["status"] == "canceled" and job["reason"] == "canceled", job
    # Gone by the time the job is reported ended, not later.
    assert sleeps(seconds) == []
    assert job_processes(job_id) == []
    assert not any(_alive(pid) for pid in marked)
    assert not pdd.exists()
    print(f"\ncancel: {len(marked)} processes of the job gone, job canceled {took:.2f}s after the request")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_timeout_kills_every_process(api_factory):
    # Long enough for the sleep task to start on a loaded machine (seen: 6-16 s at a load of 6).
    api = api_factory(job_timeout=40)
    seconds = sleep_seconds()
    job_id, _ = start_sleep_job(api, seconds)
    job = api.wait(job_id, timeout=60)
    assert job["status"] == "timeout" and job["reason"] == "timeout after 40s", job
    assert sleeps(seconds) == []
    assert job_processes(job_id) == []
    assert not (api.settings.jobs_dir / job_id).exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_processes_of_other_jobs_are_left_alone(api_factory):
    """Canceling one of two running jobs kills that job's processes, not the other's."""
    api = api_factory(max_concurrent_jobs=2)
    first, second = sleep_seconds(), sleep_seconds()
    while second == first:
        second = sleep_seconds()
    job_a, sleeps_a = start_sleep_job(api, first)
    job_b, sleeps_b = start_sleep_job(api, second)
    procs_b = job_processes(job_b)
    with api.client() as c:
        assert c.post(f"/v1/jobs/{job_a}/cancel").status_code == 202
        assert api.wait(job_a, timeout=30)["status"] == "canceled"
        assert sleeps(first) == []
        assert sleeps(second) == sleeps_b and all(_alive(pid) for pid in procs_b)
        assert c.get(f"/v1/jobs/{job_b}").json()["status"] == "running"
        assert c.post(f"/v1/jobs/{job_b}/cancel").status_code == 202
    assert api.wait(job_b, timeout=30)["status"] == "canceled"
    assert sleeps(second) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_kept_job_dirs_lose_their_env(api_factory):
    """keep_job_dirs (debugging) keeps the artifacts, never ``env/`` (extra vars, environment)."""
    api = api_factory(keep_job_dirs=True)
    with api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_token": "t0k"}})
    job = api.wait(r.json()["id"])
    assert job["status"] == "successful", job
    pdd = api.settings.jobs_dir / job["id"]
    assert (pdd / "artifacts").is_dir()
    assert not (pdd / "env").exists()


ENV_PLAYBOOK = [
    {
        "name": "Show what a job sees of its environment",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Controller environment",
                "ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.pipe', 'env') }}"},
            },
            {
                "name": "Lookups of the API's variables",
                "ansible.builtin.debug": {
                    "msg": "{{ lookup('ansible.builtin.env', 'SCLOUD_API_WEBHOOK_SECRET', "
                    "'SCLOUD_API_DATABASE_URL', 'SCLOUD_API_BROKER_URL', 'UPSTREAM_API_TOKEN', "
                    "default='ABSENT') }}"
                },
            },
            {
                "name": "Module environment",
                "ansible.builtin.command": {"argv": ["env"]},
                "changed_when": False,
            },
        ],
    }
]


def test_job_environment_holds_none_of_the_api_secrets(api_factory, tmp_path, monkeypatch):
    (tmp_path / "envdump.yml").write_text(yaml.safe_dump(ENV_PLAYBOOK, sort_keys=False))
    (tmp_path / "catalogue.yml").write_text(
        yaml.safe_dump(
            {
                "playbooks": {
                    "envdump": {
                        "file": "envdump.yml",
                        "role": "operator",
                        "description": "Print the job's environment (test only).",
                        "variables": {"type": "object", "properties": {}},
                    }
                }
            }
        )
    )
    api = api_factory(catalogue_path=tmp_path / "catalogue.yml", playbook_dir=tmp_path)
    # The API process's environment, as systemd's EnvironmentFile gives it (set after the settings
    # were read, so the test's settings stay those of the fixture).
    canaries = {
        "SCLOUD_API_WEBHOOK_SECRET": "whsec_canary" + secrets.token_hex(8),
        "SCLOUD_API_DATABASE_URL": f"postgresql+psycopg://api:pw{secrets.token_hex(8)}@db/scloud",
        "SCLOUD_API_BROKER_URL": f"amqp://api:pw{secrets.token_hex(8)}@mq:5672/",
        "UPSTREAM_API_TOKEN": "tok" + secrets.token_hex(8),
        "HTTPS_PROXY": f"http://u:pw{secrets.token_hex(8)}@proxy:3128",
    }
    for name, value in canaries.items():
        monkeypatch.setenv(name, value)
    with api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "envdump"})
        assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"])
    assert job["status"] == "successful", job
    with api.client("viewer") as c:
        events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"]
    ok = {e["task"]: e["data"]["res"] for e in events if e["event"] == "runner_on_ok"}

    controller = ok["Controller environment"]["msg"].splitlines()
    module = ok["Module environment"]["stdout"].splitlines()
    for env in (controller, module):
        names = {line.partition("=")[0] for line in env}
        assert f"SCLOUD_JOB_ID={job['id']}" in env and "PATH" in names  # it is the job's environment
        assert not {n for n in names if n.startswith("SCLOUD_API_")}, names
        assert not names & set(canaries), names
    assert ok["Lookups of the API's variables"]["msg"] == "ABSENT,ABSENT,ABSENT,ABSENT"
    # Nothing of the API's environment in what a viewer reads, nor in the stored rows.
    shown = json.dumps(events)
    with api.services.sm() as s:
        stored = json.dumps(
            [[e.stdout, e.data] for e in s.scalars(select(JobEvent).where(JobEvent.job_id == job["id"]))]
        )
    for value in canaries.values():
        assert value not in shown and value not in stored
    assert not (api.settings.jobs_dir / job["id"]).exists()
