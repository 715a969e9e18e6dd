"""Which processes belong to a job, and killing exactly those (real processes of this host); the
job's environment allow-list and the removal of job data (pure logic and files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from scloud_api import jobprocs
from scloud_api.jobrun import confine_env, job_env, remove_job_data, sweep_jobs_dir
from scloud_api.settings import Settings

BASE_ENV = {"PATH": os.environ["PATH"]}


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own, as Ansible's workers: no process group reaches it.
    return subprocess.Popen(argv, env={**BASE_ENV, **env}, start_new_session=True)


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_children(proc: subprocess.Popen, n: int) -> list[int]:
    deadline = time.monotonic() + 10
    while len(kids := children(proc.pid)) < n:
        assert time.monotonic() < deadline, kids
        time.sleep(0.02)
    return kids


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:  # whatever a failed test left
        for pid in children(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if p.poll() is None:
            p.kill()
        p.wait()


def test_kill_job_kills_its_tree_and_nothing_else(procs):
    job_a, job_b = str(uuid.uuid4()), str(uuid.uuid4())
    # Job A: a shell with a child in its own session and a child whose environment was reset
    # (as sudo does): found through the marker, and through its marked parent.
    a = spawn(
        ["sh", "-c", "setsid sleep 3001 & env -i /bin/sleep 3002 & wait"],
        jobprocs.marker_env(job_a, 1, Path("/nonexistent/jobs") / job_a),
    )
    b = spawn(["sleep", "3003"], jobprocs.marker_env(job_b, 1, Path("/nonexistent/jobs") / job_b))
    bystander = spawn(["sleep", "3004"], {})
    procs += [a, b, bystander]
    kids = wait_children(a, 2)
    found = jobprocs.job_processes(job_a)
    assert set(found) == {a.pid, *kids}
    assert jobprocs.job_processes(job_a, attempt=2) == {}

    assert jobprocs.kill_job(job_a, attempt=1, grace=1.0) == 3
    a.wait(5)
    assert not any(alive(pid) for pid in kids)
    assert jobprocs.job_processes(job_a) == {}
    assert b.poll() is None and bystander.poll() is None
    assert jobprocs.kill_job(job_a) == 0


def test_sigkill_after_the_grace(procs):
    job = str(uuid.uuid4())
    stubborn = spawn(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); "
            "time.sleep(60)",
        ],
        jobprocs.marker_env(job, 1, Path("/nonexistent/jobs") / job),
    )
    procs.append(stubborn)
    time.sleep(0.3)  # the handler is installed
    t0 = time.monotonic()
    assert jobprocs.kill_job(job, grace=0.5) == 1
    assert time.monotonic() - t0 >= 0.5
    assert stubborn.wait(5) == -signal.SIGKILL


def test_orphans_are_the_processes_of_dead_runners(procs, tmp_path):
    jobs = tmp_path / "jobs"
    dead_runner = spawn(["true"], {})
    dead_runner.wait()

    def marks(runner: str, home: Path = jobs) -> dict[str, str]:
        job = str(uuid.uuid4())
        return {
            jobprocs.MARK: job,
            jobprocs.ATTEMPT: "1",
            jobprocs.RUNNER: runner,
            jobprocs.DIR: str(home / job),
        }

    orphan = spawn(["sleep", "3005"], marks(jobprocs.runner_token(dead_runner.pid)))
    # Marked by this (live) process: not an orphan.
    running = spawn(["sleep", "3006"], marks(jobprocs.runner_token()))
    # An orphan of another installation (another jobs dir): not this one's to kill.
    elsewhere = spawn(["sleep", "3007"], marks(jobprocs.runner_token(dead_runner.pid), tmp_path / "other"))
    procs += [orphan, running, elsewhere]
    time.sleep(0.1)
    assert jobprocs.kill_orphans(jobs, grace=1.0) == 1
    assert orphan.wait(5) == -signal.SIGTERM
    assert running.poll() is None and elsewhere.poll() is None


def test_never_this_process(monkeypatch):
    """Even if the API process carried a job's marker, it is not a process of that job."""
    job = str(uuid.uuid4())
    snapshot = jobprocs._snapshot
    me = os.getpid()

    def marked_me():
        procs = snapshot()
        procs[me] = jobprocs._Proc(me, procs[me].ppid, procs[me].start, False, job, "1", "x", "/j")
        return procs

    monkeypatch.setattr(jobprocs, "_snapshot", marked_me)
    assert jobprocs.job_processes(job) == {}


def test_job_env_is_an_allow_list(monkeypatch, tmp_path):
    for name, value in {
        "SCLOUD_API_WEBHOOK_SECRET": "whsec_x",
        "SCLOUD_API_DATABASE_URL": "postgresql://u:pw@h/db",
        "AWS_SECRET_ACCESS_KEY": "k",
        "HTTPS_PROXY": "http://u:pw@p:3128",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/root/vault",
        "PYTHONPATH": "/somewhere",
        "LANG": "C.UTF-8",
        "LC_TIME": "C",
        "HOME": "/home/api",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(state_dir=tmp_path, database_url="sqlite://")
    pdd = tmp_path / "jobs" / "j1"
    env = job_env(settings, "j1", 2, pdd, pdd / "cp")
    assert env["LANG"] == "C.UTF-8" and env["LC_TIME"] == "C" and env["HOME"] == "/home/api"
    assert env["SCLOUD_JOB_ID"] == "j1" and env["SCLOUD_JOB_ATTEMPT"] == "2"
    assert env["ANSIBLE_LOCAL_TEMP"] == str(pdd / "tmp")
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == str(pdd / "cp")
    assert env["ANSIBLE_CONFIG"] == str(settings.collection_root / "ansible.cfg")
    for name in ("SCLOUD_API_WEBHOOK_SECRET", "SCLOUD_API_DATABASE_URL", "AWS_SECRET_ACCESS_KEY"):
        assert name not in env
    assert not {"HTTPS_PROXY", "ANSIBLE_VAULT_PASSWORD_FILE", "PYTHONPATH"} & set(env)

    # What ansible-runner prepares: a copy of os.environ, our variables, its own keys.
    prepared = {
        **os.environ,
        **env,
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "AWX_ISOLATED_DATA_DIR": "/x/artifacts/run",
        "ANSIBLE_CALLBACK_PLUGINS": "/operator/plugins:/runner/callback",
    }
    confined = confine_env(prepared, env)
    assert set(confined) == set(env) | {
        "ANSIBLE_STDOUT_CALLBACK",
        "AWX_ISOLATED_DATA_DIR",
        "ANSIBLE_CALLBACK_PLUGINS",
    }
    assert confined["ANSIBLE_CALLBACK_PLUGINS"].endswith("callback")
    assert "/operator/plugins" not in confined["ANSIBLE_CALLBACK_PLUGINS"]


def test_job_data_is_removed(tmp_path):
    jobs = tmp_path / "jobs"
    for name in ("ended", "running", "kept"):
        (jobs / name / "env").mkdir(parents=True)
        (jobs / name / "env" / "extravars").write_text("token: s3cret\n")
        (jobs / name / "artifacts").mkdir()
    (jobs / "junk-file").write_text("x")
    assert sorted(sweep_jobs_dir(jobs, {"running"})) == ["ended", "junk-file", "kept"]
    assert sorted(p.name for p in jobs.iterdir()) == ["running"]

    # keep_job_dirs: the artifacts stay, the runner's env/ never does.
    (jobs / "kept" / "env").mkdir(parents=True)
    (jobs / "kept" / "artifacts").mkdir()
    assert sweep_jobs_dir(jobs, {"running"}, keep=True) == ["kept"]
    assert (jobs / "kept" / "artifacts").is_dir() and not (jobs / "kept" / "env").exists()
    assert sweep_jobs_dir(jobs, {"running"}, keep=True) == []
    remove_job_data(jobs / "running")
    assert not (jobs / "running").exists()
    assert sweep_jobs_dir(tmp_path / "none", set()) == []
