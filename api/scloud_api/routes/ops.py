"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..deps import ServicesDep, Viewer
from ..registry import vm_drift_exposition
from ..schemas import Health
from .common import AUTH

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(request: Request) -> Response:
    """Liveness and readiness (no key needed, for load balancers): database and executor."""
    # Load balancers call this often: no dependency to resolve, the answer serialised once.
    services = request.app.state.services
    try:
        await services.reads.ping()
        db = "ok"
    except Exception as exc:  # report, do not raise: this is what the load balancer reads
        db = f"error: {type(exc).__name__}"
    if services.settings.executor == "local":
        executor = services.executor.stats()  # counters under a lock: no I/O
    else:  # the Celery executor counts jobs in the database through the Session
        executor = await run_in_threadpool(services.executor.stats)
    health = Health(
        status="ok" if db == "ok" else "degraded",
        version=__version__,
        node=services.settings.node_name,
        database=db,
        executor=executor,
    )
    return Response(
        health.model_dump_json(), status_code=200 if db == "ok" else 503, media_type="application/json"
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
def metrics(services: ServicesDep, _: Viewer) -> Response:
    """The service's own figures, and ``scloud_vm_drift`` of every VM from the registry."""
    with services.sm_read() as s:
        drift = vm_drift_exposition(s)
    return Response(generate_latest() + drift.encode(), media_type=CONTENT_TYPE_LATEST)
