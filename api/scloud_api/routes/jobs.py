"""/v1/jobs: submit, list, read, follow (paged or server-sent events), cancel."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from ..deps import CallbackHeader, IdempotencyKey, Operator, ServicesDep, Viewer
from ..errors import NotFound
from ..models import TERMINAL_STATUSES
from ..reads import Reads
from ..schemas import EventPage, EventPublic, JobCreate, JobList, JobPublic, JobStatus, job_public
from .common import AUTH, JOB_ID, problems

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[str, Path(pattern=JOB_ID, description="Job id (UUID)")]
MAX_INT = 2**31 - 1
SSE_POLL = 0.3  # seconds between two reads of a live stream
SSE_KEEPALIVE = 5  # a comment line this often keeps proxies from closing an idle stream
SSE_BATCH = 200


# First: the most requested route of the API, and FastAPI tries the routes in order.
@router.get("/{job_id}", response_model=JobPublic, responses={**AUTH, **problems(404, 422)})
async def get_job(job_id: JobId, services: ServicesDep, _: Viewer) -> JobPublic:
    job = await services.reads.job(job_id)
    if job is None:
        raise _not_found(job_id)
    return job_public(job)


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    responses={
        200: {"model": JobPublic, "description": "Replay: the job an Idempotency-Key made"},
        **AUTH,
        **problems(400, 409, 413, 422, 503),
    },
)
def create_job(
    req: JobCreate,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Validate and queue a catalogue playbook; answers at once with the job (status ``queued``)."""
    job, replayed = services.submit(
        principal, req, header_callback=x_callback_url, idempotency_key=idempotency_key
    )
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("", response_model=JobList, responses=AUTH)
def list_jobs(
    services: ServicesDep,
    _: Viewer,
    status: JobStatus | None = None,
    playbook: Annotated[str | None, Query(max_length=100, pattern=r"^[\w.-]+$")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobList:
    items, total = services.list_jobs(status, playbook, offset, limit)
    return JobList(items=items, total=total, offset=offset, limit=limit)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobPublic,
    responses={**AUTH, **problems(404, 409, 422)},
)
def cancel_job(job_id: JobId, services: ServicesDep, _: Operator) -> JobPublic:
    """Cancel a queued job at once, or ask a running one to stop (its process group is killed)."""
    return services.cancel(job_id)


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"job {job_id} does not exist", code="job_not_found")


async def _sse(reads: Reads, job_id: str, after: int) -> AsyncIterator[str]:
    """Events as they come, then ``end``; awaits between polls, so a stream holds no thread."""
    last_beat = time.monotonic()
    while True:
        # The status first: the executor stores a job's events before its terminal status, so a
        # terminal status read before the events means no event can come after them.
        status = await reads.job_status(job_id)
        rows = await reads.events(job_id, after, SSE_BATCH)
        for row in rows:
            ev = EventPublic.model_validate(row).model_dump(mode="json")
            after = row["seq"]
            yield f"id: {after}\nevent: {row['event']}\ndata: {json.dumps(ev)}\n\n"
        if rows:
            continue
        if status is None or status in TERMINAL_STATUSES:
            yield f"event: end\ndata: {json.dumps({'job_id': job_id, 'status': status})}\n\n"
            return
        if time.monotonic() - last_beat > SSE_KEEPALIVE:
            last_beat = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(SSE_POLL)


@router.get(
    "/{job_id}/events",
    response_model=EventPage,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "A page of events (JSON), or a live stream with Accept: text/event-stream",
        },
        **AUTH,
        **problems(404, 422),
    },
)
async def job_events(
    job_id: JobId,
    request: Request,
    services: ServicesDep,
    _: Viewer,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="Events with seq > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
):
    """Runner events of the job, secrets redacted: paged JSON, or server-sent events."""
    status = await services.reads.job_status(job_id)
    if status is None:
        raise _not_found(job_id)
    if "text/event-stream" in request.headers.get("accept", ""):
        start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
        return StreamingResponse(
            _sse(services.reads, job_id, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    rows = await services.reads.events(job_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(
        items=[EventPublic.model_validate(r) for r in rows],
        next_after=rows[-1]["seq"] if rows else after,
        job_status=status,
        more=more,
    )
