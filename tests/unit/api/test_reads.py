"""The request path's reads (scloud_api.reads) give the same rows as the ORM, on a real SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from scloud_api.auth import create_key, hash_token, revoke_key
from scloud_api.db import make_engine, make_sessionmaker, upgrade
from scloud_api.models import CallbackAttempt, Job, JobEvent
from scloud_api.reads import Reads
from scloud_api.schemas import EventPublic, job_public


def test_reads_match_the_orm(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    sm = make_sessionmaker(engine)
    with sm.begin() as s:
        key, token = create_key(s, "operator", "k")
        create_key(s, "admin", "a")
        job = Job(
            playbook="diagnostics",
            extra_vars={"diagnostics_token": "s3cret", "nested": [{"a": 1}]},
            secret_vars=["diagnostics_token"],
            check=True,
            stats={"ok": {"h1": 2}, "dark": {"h2": 1}, "processed": {"h1": 1, "h2": 1}},
            status="failed",
            callback_url="http://127.0.0.1/hook",
            started_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        )
        s.add(job)
        s.flush()
        job_id, key_id = job.id, key.id
        for n in (1, 2):
            s.add(
                CallbackAttempt(
                    job_id=job_id, webhook_id="msg_1", job_status="failed", attempt=n, url="u", error="x"
                )
            )
        for seq in (1, 2, 3):
            s.add(JobEvent(job_id=job_id, seq=seq, event=f"e{seq}", data={"seq": seq, "ok": True}))

    reads = Reads(make_engine(url, read_only=True))

    async def run():
        await reads.open()
        try:
            await reads.ping()
            got = await reads.active_key(hash_token(token))
            assert got == {"id": key_id, "name": "k", "role": "operator"}
            assert await reads.active_key(hash_token("scl_unknown")) is None
            assert await reads.job_status(job_id) == "failed"
            assert await reads.job_status("no-such-job") is None
            assert await reads.job("no-such-job") is None
            fast = job_public(await reads.job(job_id))
            page = await reads.events(job_id, 1, 1)
            rest = await reads.events(job_id, 0, 10)
            with sm.begin() as s:
                revoke_key(s, key_id)
            revoked = await reads.active_key(hash_token(token))
            return fast, page, rest, revoked
        finally:
            await reads.close()

    fast, page, rest, revoked = asyncio.run(run())
    with sm() as s:
        orm = job_public(s.get(Job, job_id))
        orm_events = [EventPublic.model_validate(e) for e in s.query(JobEvent).order_by(JobEvent.seq)]
    assert fast == orm and fast.model_dump_json() == orm.model_dump_json()
    assert fast.extra_vars["diagnostics_token"] != "s3cret" and fast.check is True
    assert fast.started_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert [a.attempt for a in fast.callback_attempts] == [1, 2]
    assert [e["seq"] for e in page] == [2] and page[0]["data"] == {"seq": 2, "ok": True}
    assert [EventPublic.model_validate(e) for e in rest] == orm_events
    assert revoked is None  # no cache: the next lookup after a revocation misses
