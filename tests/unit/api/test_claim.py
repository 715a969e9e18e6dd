"""The job claim of the executors: at most one runner per job, takeover only after the lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scloud_api.catalogue import Catalogue
from scloud_api.db import make_engine, make_sessionmaker, upgrade
from scloud_api.executor import InProcessExecutor
from scloud_api.models import Job, utcnow
from scloud_api.settings import Settings

from .test_catalogue import REPO


@pytest.fixture
def sm(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def runner(sm, tmp_path, node: str, lease: float | None = 30.0) -> InProcessExecutor:
    settings = Settings(state_dir=tmp_path / node, node_name=node, database_url="sqlite://")
    catalogue = Catalogue(REPO / "playbooks/catalogue.yml", REPO / "playbooks")
    return InProcessExecutor(settings, sm, catalogue, lambda _: None, lease_seconds=lease)


def new_job(sm) -> str:
    with sm.begin() as s:
        job = Job(playbook="diagnostics")
        s.add(job)
        s.flush()
        return job.id


def test_claim_is_exclusive_and_takeover_waits_for_the_lease(sm, tmp_path):
    a, b = runner(sm, tmp_path, "a"), runner(sm, tmp_path, "b")
    job_id = new_job(sm)
    job, outcome = a._claim(job_id, takeover=True)
    assert outcome == "claimed" and job.node == "a" and job.attempts == 1 and job.status == "starting"
    # A duplicate message, or a redelivery while a's heartbeat is fresh: b must not run it.
    assert b._claim(job_id, takeover=True) == (None, "busy")
    assert b._claim(job_id) == (None, "busy")
    # a stops renewing its heartbeat (it died): after the lease, b takes the job over.
    with sm.begin() as s:
        s.get(Job, job_id).heartbeat_at = utcnow() - timedelta(seconds=31)
    assert b._claim(job_id) == (None, "busy"), "the local executor never takes over"
    job, outcome = b._claim(job_id, takeover=True)
    assert outcome == "claimed" and job.node == "b" and job.attempts == 2
    # a came back to life: its finish is ignored, b's counts.
    a._finish(job_id, "failed", reason="stale", attempt=1)
    with sm() as s:
        assert s.get(Job, job_id).status == "starting"
    b._finish(job_id, "successful", rc=0, attempt=2)
    with sm() as s:
        assert s.get(Job, job_id).status == "successful"
    assert b._claim(job_id, takeover=True) == (None, "terminal")
    assert b._claim("no-such-job", takeover=True) == (None, "missing")


def test_without_a_lease_there_is_no_takeover(sm, tmp_path):
    a, b = runner(sm, tmp_path, "a", lease=None), runner(sm, tmp_path, "b", lease=None)
    job_id = new_job(sm)
    assert a._claim(job_id)[1] == "claimed"
    with sm.begin() as s:
        s.get(Job, job_id).heartbeat_at = utcnow() - timedelta(days=1)
    assert b._claim(job_id, takeover=True) == (None, "busy")


def test_canceled_while_queued_is_not_run(sm, tmp_path):
    job_id = new_job(sm)
    with sm.begin() as s:
        s.get(Job, job_id).status = "canceled"
    assert runner(sm, tmp_path, "a").execute(job_id, takeover=True) == "terminal"
