"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..deps import ServicesDep, Viewer
from ..schemas import Health
from .common import AUTH

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(services: ServicesDep, response: Response) -> Health:
    """Liveness and readiness (no key needed, for load balancers): database and executor."""
    try:
        await services.reads.ping()
        db = "ok"
    except Exception as exc:  # report, do not raise: this is what the load balancer reads
        db = f"error: {type(exc).__name__}"
    status = "ok" if db == "ok" else "degraded"
    if status != "ok":
        response.status_code = 503
    if services.settings.executor == "local":
        executor = services.executor.stats()  # counters under a lock: no I/O
    else:  # the Celery executor counts jobs in the database through the Session
        executor = await run_in_threadpool(services.executor.stats)
    return Health(
        status=status,
        version=__version__,
        node=services.settings.node_name,
        database=db,
        executor=executor,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus exposition",
        },
        **AUTH,
    },
)
def metrics(_: Viewer) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
