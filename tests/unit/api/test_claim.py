"""The job claim of the executors: at most one runner per job, takeover only after the lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scloud_api.catalogue import Catalogue
from scloud_api.db import make_engine, make_sessionmaker, upgrade
from scloud_api.jobrun import JobRun
from scloud_api.models import Job, JobStatus, utcnow
from scloud_api.settings import Settings

from .test_catalogue import REPO


@pytest.fixture
def sm(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def runner(sm, tmp_path, node: str, job_id: str, lease: float | None = 30.0, takeover: bool = True) -> JobRun:
    """One run of ``job_id`` by the runner of ``node`` (a Celery worker's: takeover after the lease)."""
    settings = Settings(state_dir=tmp_path / node, node_name=node, database_url="sqlite://")
    catalogue = Catalogue(REPO / "playbooks/catalogue.yml", REPO / "playbooks")
    return JobRun(settings, sm, catalogue, job_id, lease_seconds=lease, takeover=takeover)


def new_job(sm) -> str:
    with sm.begin() as s:
        job = Job(playbook="diagnostics")
        s.add(job)
        s.flush()
        return job.id


def test_claim_is_exclusive_and_takeover_waits_for_the_lease(sm, tmp_path):
    job_id = new_job(sm)
    a, b = runner(sm, tmp_path, "a", job_id), runner(sm, tmp_path, "b", job_id)
    job, outcome = a.claim()
    assert outcome == "claimed" and job.node == "a" and job.attempts == 1 and job.status == "starting"
    # A duplicate message, or a redelivery while a's heartbeat is fresh: b must not run it.
    assert b.claim() == (None, "busy")
    assert runner(sm, tmp_path, "b", job_id, takeover=False).claim() == (None, "busy")
    # a stops renewing its heartbeat (it died): after the lease, b takes the job over.
    with sm.begin() as s:
        s.get(Job, job_id).heartbeat_at = utcnow() - timedelta(seconds=31)
    local = runner(sm, tmp_path, "b", job_id, takeover=False)
    assert local.claim() == (None, "busy"), "the local executor never takes over"
    job, outcome = b.claim()
    assert outcome == "claimed" and job.node == "b" and job.attempts == 2
    # a came back to life: its finish is ignored, b's counts.
    a.finish(JobStatus.FAILED, reason="stale")
    with sm() as s:
        assert s.get(Job, job_id).status == "starting"
    b.finish(JobStatus.SUCCESSFUL, rc=0)
    with sm() as s:
        assert s.get(Job, job_id).status == "successful"
    assert runner(sm, tmp_path, "c", job_id).claim() == (None, "terminal")
    assert runner(sm, tmp_path, "c", "no-such-job").claim() == (None, "missing")


def test_without_a_lease_there_is_no_takeover(sm, tmp_path):
    job_id = new_job(sm)
    a = runner(sm, tmp_path, "a", job_id, lease=None, takeover=False)
    assert a.claim()[1] == "claimed"
    with sm.begin() as s:
        s.get(Job, job_id).heartbeat_at = utcnow() - timedelta(days=1)
    assert runner(sm, tmp_path, "b", job_id, lease=None).claim() == (None, "busy")


def test_canceled_while_queued_is_not_run(sm, tmp_path):
    job_id = new_job(sm)
    with sm.begin() as s:
        s.get(Job, job_id).status = "canceled"
    assert runner(sm, tmp_path, "a", job_id).execute() == "terminal"


@pytest.mark.parametrize(
    ("runner_status", "timed_out", "stopping", "expected"),
    [
        ("successful", False, False, (JobStatus.SUCCESSFUL, None)),
        ("canceled", False, False, (JobStatus.CANCELED, "canceled")),
        ("canceled", True, False, (JobStatus.TIMEOUT, "timeout after 3600s")),
        ("canceled", False, True, (JobStatus.FAILED, "interrupted")),
        ("timeout", False, False, (JobStatus.TIMEOUT, "timeout after 3600s")),
    ],
)
def test_outcome_of_the_runner_status(sm, tmp_path, runner_status, timed_out, stopping, expected):
    run = runner(sm, tmp_path, "a", "job")
    run.settings.job_timeout = 3600
    if timed_out:
        run.timed_out.set()
    if stopping:
        run.stopping.set()
    assert run._outcome(runner_status, 0, {}) == expected


@pytest.mark.parametrize(
    ("stats", "rc", "reason"),
    [
        ({"dark": {"n1": 1}, "failures": {}}, 4, "unreachable"),
        ({"dark": {}, "failures": {"n1": 1}}, 2, "playbook_failed"),
        ({}, 1, "runner_failed rc=1"),
    ],
)
def test_reason_of_a_failed_run(sm, tmp_path, stats, rc, reason):
    assert runner(sm, tmp_path, "a", "job")._outcome("failed", rc, stats) == (JobStatus.FAILED, reason)
