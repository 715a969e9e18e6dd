"""The API's Celery executor on the running lab (`make lab`): RabbitMQ on the first mgmt node, a job
worker on each of the three mgmt nodes, deployed by `playbooks/mgmt.yml -e mgmt_api_executor=celery`.

Check mode first (it predicts the deployment), the real run, a re-run that changes nothing; jobs
submitted through the VIP run on workers of several nodes (the job rows say which); a worker killed
with SIGKILL in the middle of a long job: another node's worker takes the job over after the lease
and completes it, with one callback to a receiver on this machine (the podman gateway). Then back to
the local executor, as `make up` leaves the lab: no worker unit, no broker left running.

The deployed release is a snapshot of the committed tree (`git archive HEAD`), as in
test_mgmt_plane.py, so edits in the work tree meanwhile do not make the re-run change anything.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.api.receiver import Receiver
from tests.harness import REPO, containers_running, node_exec, run_playbook
from tests.lab.vip import GATEWAY, MGMT_NODES, URL, tls

INVENTORY = str(REPO / "inventories" / "lab")
BROKER_NODE = MGMT_NODES[0]
BROKER_ADDRESS = "10.89.10.11"
ADMIN_KEY = REPO / ".cache" / "lab" / "admin.key"
# This machine on the lab network: where the nodes reach the callback receiver.
# A short lease keeps the takeover drill short; production keeps the default (30 s).
LEASE = 8
TERMINAL = ("successful", "failed", "canceled", "timeout")
_STATE = {"back_to_local": False}

pytestmark = pytest.mark.slow


_node = node_exec


def _lab_running():
    return containers_running(MGMT_NODES)


def _job_row(job_id):
    """The job's row in the API's database (PostgreSQL on the first node): who ran it, how often."""
    query = f"SELECT status, coalesce(node, ''), attempts, coalesce(pid, 0) FROM jobs WHERE id = '{job_id}'"
    out = _node(
        BROKER_NODE,
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-d",
        "scloud_api",
        "-tA",
        "-F",
        "|",
        "-c",
        query,
    )
    status, node, attempts, pid = out.stdout.strip().split("|")
    return {"status": status, "node": node, "attempts": int(attempts), "pid": int(pid)}


def _changed_tasks(run):
    return sorted(
        {
            (e["event_data"].get("host"), e["event_data"].get("task"))
            for e in run.events
            if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")
        }
    )


def _headers():
    return {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}


def _submit(callback_url=None, **extra_vars):
    headers = _headers()
    if callback_url:
        headers["X-Callback-URL"] = callback_url
    r = httpx.post(
        f"{URL}/v1/jobs",
        verify=tls(),
        headers=headers,
        timeout=15,
        json={
            "playbook": "diagnostics",
            "limit": BROKER_NODE,
            "extra_vars": {"diagnostics_command": ["hostname"], **extra_vars},
        },
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _wait(job_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{URL}/v1/jobs/{job_id}", verify=tls(), headers=_headers(), timeout=10).json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not ended after {timeout} s: {job['status']}")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"mgmt_api_executor": "rabbit"}, "mgmt_api_executor must be local or celery"),
        (
            {"mgmt_api_executor": "celery", "mgmt_api_broker_url": "redis://mq:6379/0"},
            "mgmt_api_broker_url, when set, must be an amqp:// or amqps:// URL",
        ),
        (
            {"mgmt_api_executor": "celery", "scloud_broker_password": "short"},
            "scloud_broker_password must have at least 12 characters",
        ),
    ],
)
def test_bad_executor_settings_are_refused_before_anything_changes(extra, message):
    assert _lab_running(), "the lab is not running: make lab"
    run = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY, extra_vars=extra)
    assert not run.ok
    assert run.changed_count() == 0
    msgs = " ".join(
        e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"
    )
    assert message in " ".join(msgs.split()), msgs


@pytest.fixture(scope="module")
def release(cloud_release):
    """The session's release (tests/lab/conftest.py): every run of the tier deploys the same one, so a
    commit made while the tier runs never changes what the next test finds deployed."""
    return cloud_release


@pytest.fixture(scope="module")
def celery(cloud_deployed, release):
    """mgmt.yml with the Celery executor: check mode, real run, re-run; the lab goes back to the
    local executor at the end whatever happened (test_back_to_local asserts that switch)."""
    assert _lab_running(), "the lab is not running: make lab"
    extra = {
        "mgmt_api_source_dir": release,
        "mgmt_api_executor": "celery",
        "mgmt_api_job_lease_seconds": LEASE,
        "mgmt_api_callback_allowed_networks": ["127.0.0.0/8", "::1/128", f"{GATEWAY}/32"],
    }
    runs = {}
    try:
        for name, check in (("check", True), ("apply", False), ("again", False)):
            start = time.monotonic()
            run = run_playbook(
                "playbooks/mgmt.yml", inventory=INVENTORY, extra_vars=extra, check=check, diff=check
            )
            runs[name] = (run, time.monotonic() - start)
            assert run.ok, f"{name}:\n{run.stdout[-6000:]}"
        print(
            "\nmgmt.yml executor=celery: "
            + ", ".join(
                f"{name} {t:.1f} s (changed={run.changed_count()})" for name, (run, t) in runs.items()
            )
        )
        yield runs
    finally:
        if not _STATE["back_to_local"]:
            run_playbook(
                "playbooks/mgmt.yml", inventory=INVENTORY, extra_vars={"mgmt_api_source_dir": release}
            )


def test_check_mode_predicts_and_the_rerun_changes_nothing(celery):
    check, _ = celery["check"]
    apply, _ = celery["apply"]
    again, _ = celery["again"]
    # A task that check mode cannot run (the unit does not exist yet) has a stand-in that reports it.
    predicted = {(host, task.split(" (check mode")[0]) for host, task in _changed_tasks(check)}
    done = set(_changed_tasks(apply))
    assert done, "switching to celery changes something"
    # Every change of the real run was announced by check mode, handlers included.
    unannounced = done - predicted
    assert not unannounced, sorted(unannounced)
    # The broker: configured on a fresh lab, started again after a switch back to local.
    assert {(BROKER_NODE, "Configure the broker"), (BROKER_NODE, "Start RabbitMQ")} & predicted, predicted
    # --diff showed the new worker unit, before/after.
    diffs = [
        e["event_data"]["res"]["diff"]
        for e in check.events
        if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("diff")
    ]
    assert any("scloud-api-worker.service" in json.dumps(d) for d in diffs)
    assert again.changed_count() == 0, _changed_tasks(again)


def test_broker_on_the_first_node_only_on_its_address(celery):
    listening = _node(BROKER_NODE, "ss", "-Hltn", "sport", "=", ":5672").stdout.split()
    assert f"{BROKER_ADDRESS}:5672" in listening, listening
    assert "0.0.0.0:5672" not in listening and "*:5672" not in listening, listening
    users = json.loads(
        _node(BROKER_NODE, "rabbitmqctl", "--quiet", "list_users", "--formatter", "json").stdout
    )
    assert [u["user"] for u in users] == ["scloud"], users  # guest removed
    perms = json.loads(
        _node(
            BROKER_NODE, "rabbitmqctl", "--quiet", "list_user_permissions", "scloud", "--formatter", "json"
        ).stdout
    )
    assert perms == [{"vhost": "scloud", "configure": ".*", "write": ".*", "read": ".*"}]
    for node in MGMT_NODES:
        status = _node(node, "systemctl", "is-active", "scloud-api", "scloud-api-worker", check=False)
        assert status.stdout.split() == ["active", "active"], (node, status.stdout)
        env = _node(node, "cat", "/etc/scloud-api/scloud-api.env").stdout
        assert "SCLOUD_API_EXECUTOR='celery'" in env and f"@{BROKER_ADDRESS}:5672/scloud'" in env


def test_jobs_run_on_workers_of_several_nodes(celery):
    start = time.monotonic()
    ids = [_submit(diagnostics_sleep=3) for _ in range(6)]
    jobs = [_wait(i) for i in ids]
    elapsed = time.monotonic() - start
    assert [j["status"] for j in jobs] == ["successful"] * 6, jobs
    rows = [_job_row(i) for i in ids]
    per_node = {n: sum(r["node"] == n for r in rows) for n in MGMT_NODES}
    print(f"\n6 jobs through the VIP in {elapsed:.1f} s, run by the workers of {per_node}")
    assert sum(1 for n in per_node.values() if n) >= 2, per_node
    assert all(r["attempts"] == 1 for r in rows), rows
    for job_id, row in zip(ids, rows, strict=True):
        log = _node(row["node"], "journalctl", "-u", "scloud-api-worker", "--no-pager", "-o", "cat").stdout
        assert job_id in log, f"{row['node']}'s worker log does not name job {job_id}"


def test_killed_worker_job_is_taken_over_by_another_node(celery):
    with Receiver(host=GATEWAY) as rx:
        job_id = _submit(callback_url=rx.url, diagnostics_sleep=12)
        deadline = time.monotonic() + 120
        while True:  # until the sleep task runs on one worker
            events = httpx.get(
                f"{URL}/v1/jobs/{job_id}/events",
                verify=tls(),
                headers=_headers(),
                timeout=10,
                params={"limit": 500},
            ).json()["items"]
            if any(e["event"] == "runner_on_start" and e["task"] == "Sleep" for e in events):
                break
            assert time.monotonic() < deadline, f"job never reached the sleep task: {_job_row(job_id)}"
            time.sleep(0.3)
        victim = _job_row(job_id)["node"]
        assert victim in MGMT_NODES
        try:
            _node(victim, "systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "scloud-api-worker")
            killed_at = time.monotonic()
            # Keep it down (systemd would restart it in 2 s): the job must move to another node.
            _node(victim, "systemctl", "stop", "scloud-api-worker")
            while (row := _job_row(job_id))["attempts"] < 2:
                assert time.monotonic() - killed_at < 6 * LEASE, f"not taken over: {row}"
                time.sleep(0.2)
            takeover = time.monotonic() - killed_at
            job = _wait(job_id, timeout=180)
            done = time.monotonic() - killed_at
            time.sleep(3)  # a second callback would come now
            calls = list(rx.calls)
        finally:
            _node(victim, "systemctl", "start", "scloud-api-worker", check=False)
    row = _job_row(job_id)
    print(
        f"\nworker of {victim} SIGKILLed mid-job: taken over by {row['node']} after {takeover:.1f} s "
        f"(lease {LEASE} s), job {job['status']} {done:.1f} s after the kill, {len(calls)} callback"
    )
    assert job["status"] == "successful", job
    assert row["node"] != victim and row["node"] in MGMT_NODES and row["attempts"] == 2, row
    assert takeover < 3 * LEASE + 5, takeover
    assert len(calls) == 1, calls
    body = json.loads(calls[0]["body"])
    assert body["type"] == "job.successful" and body["data"]["id"] == job_id
    headers = {k.lower() for k in calls[0]["headers"]}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers, headers
    events = httpx.get(
        f"{URL}/v1/jobs/{job_id}/events", verify=tls(), headers=_headers(), timeout=10, params={"limit": 500}
    ).json()["items"]
    marks = [e for e in events if e["event"] == "executor_takeover"]
    assert len(marks) == 1 and marks[0]["data"] == {"attempt": 2, "node": row["node"]}, marks


def test_back_to_local_leaves_no_worker_and_no_broker(celery, release):
    start = time.monotonic()
    run = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY, extra_vars={"mgmt_api_source_dir": release})
    elapsed = time.monotonic() - start
    _STATE["back_to_local"] = True
    assert run.ok, run.stdout[-6000:]
    print(f"\nmgmt.yml back to executor=local: {elapsed:.1f} s (changed={run.changed_count()})")

    def active(node, unit):
        return _node(node, "systemctl", "is-active", unit, check=False).stdout.strip()

    for node in MGMT_NODES:
        assert active(node, "scloud-api") == "active"
        assert active(node, "scloud-api-worker") != "active"
        unit = "/etc/systemd/system/scloud-api-worker.service"
        assert _node(node, "test", "-e", unit, check=False).returncode == 1, f"{node}: {unit} left"
        assert not _node(node, "pgrep", "-f", "scloud-api worker", check=False).stdout.strip()
        env = _node(node, "cat", "/etc/scloud-api/scloud-api.env").stdout
        assert "SCLOUD_API_EXECUTOR" not in env and "BROKER" not in env
    assert active(BROKER_NODE, "rabbitmq-server") != "active"
    # The local executor runs jobs again.
    job = _wait(_submit())
    assert job["status"] == "successful", job
