"""Idempotency-Key (IETF httpapi draft): one job per key and body, scoped per API key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from scloud_api.models import IdempotencyKey, Job
from sqlalchemy import select

BODY = {"playbook": "diagnostics", "extra_vars": {"diagnostics_message": "once"}}


def test_twenty_concurrent_posts_make_one_job(api):
    clients = [api.client() for _ in range(20)]

    def post(c):
        return c.post("/v1/jobs", json=BODY, headers={"Idempotency-Key": "k-20"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, clients))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(202) == 1, codes
    assert set(codes) <= {200, 202, 409}, codes
    ids = {r.json()["id"] for r in responses if r.status_code in (200, 202)}
    assert len(ids) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_in_progress" and r.headers["retry-after"] == "1"
        if r.status_code == 200:
            assert r.headers["idempotent-replayed"] == "true"
    with api.services.sm() as s:
        assert len(s.scalars(select(Job)).all()) == 1

    c = clients[0]
    # A retry after the first finished: 200 with the same job.
    again = c.post("/v1/jobs", json=BODY, headers={"Idempotency-Key": "k-20"})
    assert again.status_code == 200 and again.json()["id"] in ids
    # Same key, another body: 422, no job.
    other = c.post("/v1/jobs", json={**BODY, "check": True}, headers={"Idempotency-Key": "k-20"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # Same key from another API key: its own scope, a new job.
    with api.client("admin") as admin:
        scoped = admin.post("/v1/jobs", json=BODY, headers={"Idempotency-Key": "k-20"})
    assert scoped.status_code == 202 and scoped.json()["id"] not in ids
    with api.services.sm() as s:
        assert len(s.scalars(select(Job)).all()) == 2
        rows = s.scalars(select(IdempotencyKey)).all()
        assert len(rows) == 2
        for row in rows:
            assert row.expires_at - row.created_at >= timedelta(hours=24)
    for cl in clients:
        cl.close()


def test_bad_input_does_not_burn_the_key(api):
    with api.client() as c:
        bad = c.post("/v1/jobs", json={"playbook": "nope"}, headers={"Idempotency-Key": "k-bad"})
        assert bad.status_code == 422
        good = c.post("/v1/jobs", json=BODY, headers={"Idempotency-Key": "k-bad"})
        assert good.status_code == 202
        empty = c.post("/v1/jobs", json=BODY, headers={"Idempotency-Key": '""'})
        assert empty.status_code == 422
