"""Jobs through the API run the real ansible-playbook through ansible-runner."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
from scloud_api.models import Job

from tests.harness import run_playbook

from .conftest import REPO

STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")
SECRET = "tok-S3cr3t-4242"


def test_job_matches_ansible_runner_and_redacts(api, inventory):
    extra = {
        "diagnostics_command": ["kernel", "hostname"],
        "diagnostics_token": SECRET,
        "diagnostics_message": f"hi {SECRET}",
    }
    with api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": extra, "limit": "lab"})
        assert r.status_code == 202, r.text
        created = r.json()
        assert created["status"] == "queued" and r.headers["location"] == f"/v1/jobs/{created['id']}"
        assert created["extra_vars"]["diagnostics_token"] == "********"

    job = api.wait(created["id"])
    assert job["status"] == "successful" and job["rc"] == 0, job
    assert job["started_at"] and job["finished_at"]

    # The same playbook, inventory and variables through ansible-runner directly.
    direct = run_playbook(
        REPO / "playbooks/diagnostics.yml",
        inventory=str(inventory),
        extra_vars=extra,
        limit="lab",
    )
    assert direct.status == "successful", direct.stdout[-2000:]
    for key in STAT_KEYS:
        assert (job["stats"].get(key) or {}) == (direct.stats.get(key) or {}), key
    assert job["hosts"]["localhost"]["ok"] == direct.stats["ok"]["localhost"]
    assert job["hosts"]["localhost"]["failures"] == 0

    # Events: paged, complete, secrets redacted everywhere.
    with api.client("viewer") as c:
        events, after = [], 0
        while True:
            page = c.get(f"/v1/jobs/{job['id']}/events", params={"after": after, "limit": 7}).json()
            events += page["items"]
            after = page["next_after"]
            if not page["more"]:
                break
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    kinds = {e["event"] for e in events}
    assert {"playbook_on_start", "runner_on_ok", "playbook_on_stats"} <= kinds
    assert SECRET not in json.dumps(events)
    report = [e for e in events if e["event"] == "runner_on_ok" and e["task"] == "Report"]
    assert report and report[0]["data"]["res"]["msg"].startswith("hi ********: ")
    ran = [e for e in events if e["event"] == "runner_item_on_ok" and e["task"] == "Run the diagnostics"]
    assert [e["data"]["res"]["cmd"] for e in ran] == [["uname", "-r"], ["hostname"]]
    no_log = [
        e for e in events if e["event"] == "runner_on_ok" and e["task"] == "Use the token without showing it"
    ]
    assert "censored" in no_log[0]["data"]["res"]

    # The same events as server-sent events, ending with the job's status.
    with httpx.Client(base_url=api.url, timeout=30) as c:
        with c.stream(
            "GET",
            f"/v1/jobs/{job['id']}/events",
            headers={"Authorization": f"Bearer {api.tokens['viewer']}", "Accept": "text/event-stream"},
        ) as s:
            assert s.headers["content-type"].startswith("text/event-stream")
            body = "".join(s.iter_text())
    assert body.count("\nevent: ") + body.startswith("id: ") >= len(events)
    assert body.rstrip().endswith('"status": "successful"}')
    assert SECRET not in body


def test_failed_job_and_listing(api):
    with api.client() as c:
        r = c.post(
            "/v1/jobs",
            json={
                "playbook": "diagnostics",
                "extra_vars": {"diagnostics_fail": True, "diagnostics_command": ["hostname"]},
                "check": True,
                "diff": True,
            },
        )
        assert r.status_code == 202, r.text
        job = api.wait(r.json()["id"])
        assert job["status"] == "failed" and job["reason"] == "playbook_failed"
        assert job["hosts"]["localhost"]["failures"] == 1
        assert job["check"] is True and job["diff"] is True
        listed = c.get("/v1/jobs", params={"status": "failed"}).json()
        assert listed["total"] == 1 and listed["items"][0]["id"] == job["id"]
        assert c.get("/v1/jobs", params={"status": "successful"}).json()["total"] == 0
        assert c.get("/v1/playbooks").json()["items"][0]["name"] == "diagnostics"
        events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"]
        # Check mode: the command is reported, not run.
        kinds = [e["event"] for e in events if e["task"] == "Run the diagnostics"]
        assert "runner_item_on_skipped" in kinds and not {"runner_on_ok", "runner_item_on_ok"} & set(kinds)


def test_nul_in_output_is_stored(api_factory):
    """A command printing a NUL: its event is stored on PostgreSQL too, the NUL replaced."""
    api = api_factory(
        catalogue_path=REPO / "tests/api/playbooks/catalogue.yml", playbook_dir=REPO / "tests/api/playbooks"
    )
    with api.client() as c:
        job = api.wait(c.post("/v1/jobs", json={"playbook": "nul_output"}).json()["id"])
        assert job["status"] == "successful", job
        events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"]
    out = [e for e in events if e["event"] == "runner_on_ok" and e["task"] == "Print a NUL"]
    assert out[0]["data"]["res"]["stdout"] == "a\ufffdb"


def _pgid_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def test_cancel_running_job_kills_ansible(api):
    with api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 120}})
        job_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while True:  # wait until the sleep task runs
            page = c.get(f"/v1/jobs/{job_id}/events", params={"limit": 1000}).json()
            if any(e["event"] == "runner_on_start" and e["task"] == "Sleep" for e in page["items"]):
                break
            assert time.monotonic() < deadline, page
            time.sleep(0.2)
        with api.services.sm() as s:
            pid = s.get(Job, job_id).pid
        assert pid and _pgid_members(pid), "ansible-playbook should be running"
        r = c.post(f"/v1/jobs/{job_id}/cancel")
        assert r.status_code == 202, r.text
        job = api.wait(job_id, timeout=30)
        assert job["status"] == "canceled" and job["reason"] == "canceled"
        assert _pgid_members(pid) == [], "the ansible process group must be gone"
        r = c.post(f"/v1/jobs/{job_id}/cancel")
        assert r.status_code == 409 and r.json()["code"] == "job_finished"


def test_queue_is_bounded_and_queued_jobs_cancel_at_once(api_factory):
    api = api_factory(max_concurrent_jobs=1)
    with api.client() as c:
        first = c.post(
            "/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 60}}
        ).json()
        second = c.post("/v1/jobs", json={"playbook": "diagnostics"}).json()
        api.wait(first["id"], until={"running"}, timeout=60)
        assert c.get(f"/v1/jobs/{second['id']}").json()["status"] == "queued"
        assert c.get("/healthz").json()["executor"] == {"running": 1, "queued": 1, "capacity": 1}
        r = c.post(f"/v1/jobs/{second['id']}/cancel")
        assert r.status_code == 202 and r.json()["status"] == "canceled"
        c.post(f"/v1/jobs/{first['id']}/cancel")
        assert api.wait(first["id"], timeout=30)["status"] == "canceled"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_job_timeout(api_factory):
    api = api_factory(job_timeout=2)
    with api.client() as c:
        job_id = c.post(
            "/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 60}}
        ).json()["id"]
        job = api.wait(job_id, timeout=60)
        assert job["status"] == "timeout" and job["reason"] == "timeout after 2s"
        with api.services.sm() as s:
            pid = s.get(Job, job_id).pid
        assert pid is None or _pgid_members(pid) == []
