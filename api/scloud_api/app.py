"""The FastAPI application: routes, problem-details errors, body limit, access logs and metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, logs, metrics
from .errors import ApiError, problem
from .routes import jobs, keys, ops, playbooks, resources
from .schemas import Problem
from .service import Services
from .settings import Settings, get_settings

log = logging.getLogger("scloud_api.http")
PROBLEM = "application/problem+json"


def _problem_response(status: int, code: str, detail: str, errors=None, headers=None) -> JSONResponse:
    return JSONResponse(
        problem(status, code, detail, errors), status_code=status, media_type=PROBLEM, headers=headers
    )


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies above ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is larger than {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _problem_response(413, "body_too_large", detail)(scope, receive, send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _problem_response(413, "body_too_large", detail)(scope, receive, send)


class AccessLogMiddleware:
    """One structured log line and the Prometheus counters per request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        request_id = uuid.uuid4().hex

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], path).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                },
            )


def _validation_errors(exc: RequestValidationError) -> tuple[int, str, str, list[dict]]:
    errors = []
    malformed = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed = True
        errors.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "rule": err.get("type", "invalid"),
                "msg": err.get("msg", ""),
            }
        )
    if malformed:
        return 400, "malformed_json", "the request body is not valid JSON", errors
    return 422, "validation_error", "the request does not match the schema", errors


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = Services(settings)
        services.start()
        await services.reads.open()
        app.state.services = services
        logging.getLogger("scloud_api").info(
            "started", extra={"node": settings.node_name, "database": services.engine.url.drivername}
        )
        try:
            yield
        finally:
            await services.reads.close()
            services.stop()

    app = FastAPI(
        title="SCloudStack API",
        version=__version__,
        description="Asynchronous jobs over ansible-runner: catalogue playbooks with validated variables, "
        "signed callbacks (Standard Webhooks), Idempotency-Key, API keys with roles.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks cost ~45 us a request even with no provider set; the
        # service has its own Prometheus metrics and JSON logs (docs/benchmarks.md).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        responses={
            422: {
                "model": Problem,
                "description": "Invalid input",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        },
    )
    app.state.settings = settings

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return _problem_response(exc.status, exc.code, exc.detail, exc.errors, exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        status, code, detail, errors = _validation_errors(exc)
        return _problem_response(status, code, detail, json.loads(json.dumps(errors, default=str)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _problem_response(
            exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError):
        return _problem_response(422, "invalid_data", "the database refused a value of the request")

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception):
        logging.getLogger("scloud_api").exception("unhandled error")
        return _problem_response(500, "internal_error", "internal error; see the service log")

    # The most requested first: FastAPI tries the routes in order, at a cost each (docs/benchmarks.md).
    for router in (ops.router, jobs.router, playbooks.router, resources.router, keys.router):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    return app
