"""The FastAPI application: routes, problem-details errors, body limit, access logs and metrics."""

from __future__ import annotations

import email.message
import json
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, logs, metrics
from .errors import ApiError, problem
from .routes import alarms, jobs, keys, ops, playbooks, resources
from .schemas import Problem
from .service import Services
from .settings import Settings, get_settings

log = logging.getLogger("scloud_api.http")
PROBLEM = "application/problem+json"


def _problem_response(status: int, code: str, detail: str, errors=None, headers=None) -> JSONResponse:
    return JSONResponse(
        problem(status, code, detail, errors), status_code=status, media_type=PROBLEM, headers=headers
    )


# Methods the API serves; any other method a client sends is counted as "other", so a scanner
# cannot grow the label set of the HTTP metrics (h11 accepts any token as a method).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_TEXT_ERRORS = 20


def _is_json(content_type: bytes) -> bool:
    """FastAPI's own test for a body it parses as JSON (application/json or application/*+json)."""
    message = email.message.Message()
    message["content-type"] = content_type.decode("latin-1")
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _shown(text: str, limit: int = 200) -> str:
    """A caller's string made safe to echo: surrogates and NUL escaped, length bounded."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
    return text if len(text) <= limit else text[:limit] + "..."


def _bad_text(text: str) -> str | None:
    """What makes ``text`` unstorable: NUL (PostgreSQL refuses it) or a lone UTF-16 surrogate (it has
    no UTF-8 form, so the job could be neither answered nor listed)."""
    if "\x00" in text:
        return "NUL (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"a lone surrogate (\\u{ord(text[exc.start]):04x})"
    return None


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, detail: str, errors: list[dict]):
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors


def _too_deep(max_depth: int) -> BodyRefused:
    return BodyRefused(
        400,
        "malformed_json",
        f"the request body is nested deeper than {max_depth} arrays and objects (max_json_depth)",
        [{"loc": ["body"], "rule": "max_depth", "msg": f"at most {max_depth} levels of nesting"}],
    )


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def check_json_body(body: bytes, max_depth: int) -> None:
    """Refuse what json.loads accepts but the API cannot keep: nesting deeper than ``max_depth``,
    NaN/Infinity, NUL and lone surrogates in keys or values at any depth. Raise :class:`BodyRefused`.
    Invalid JSON is left to FastAPI, which answers 400 malformed_json with the position."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:  # past the interpreter's recursion limit: far past max_depth
        raise _too_deep(max_depth) from None
    except json.JSONDecodeError:
        return
    except ValueError as exc:  # not UTF-8/16/32, NaN, Infinity, an integer past 4300 digits
        raise BodyRefused(
            400,
            "malformed_json",
            "the request body is not valid JSON",
            [{"loc": ["body"], "rule": "json_invalid", "msg": _shown(str(exc))}],
        ) from None
    # Depth first, over containers only: cheap, and iterative (recursion is what deep nesting breaks).
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    if _may_hold_bad_text(body):
        errors = _bad_texts(value)
        if errors:
            detail = "the request body holds text that cannot be stored"
            raise BodyRefused(422, "validation_error", detail, errors)


def _may_hold_bad_text(body: bytes) -> bool:
    """False when no string of this UTF-8 body can hold NUL or a surrogate: JSON has raw control
    characters nowhere, so both can only come from a \\u escape or the raw bytes of a surrogate
    (0xED 0xA0-0xBF). Saves the walk over every string of almost every body."""
    if json.detect_encoding(body) != "utf-8":
        return True
    return b"\\u0000" in body or b"\\ud" in body or b"\\uD" in body or b"\xed" in body


def _bad_texts(value: Any) -> list[dict]:
    """One error (location, rule, message) per key or value holding NUL or a lone surrogate."""
    errors: list[dict] = []

    def check(text: str, loc: tuple, what: str) -> None:
        bad = _bad_text(text)
        if bad and len(errors) < _MAX_TEXT_ERRORS:
            errors.append(
                {
                    "loc": ["body", *(_shown(str(p)) for p in loc)],
                    "rule": "characters",
                    "msg": f"{what} holds {bad}, which cannot be stored",
                }
            )

    if isinstance(value, str):
        check(value, (), "the body")
    stack: list[tuple[Any, tuple]] = [(value, ())] if isinstance(value, dict | list) else []
    while stack:
        node, path = stack.pop()
        is_dict = isinstance(node, dict)
        for key, item in node.items() if is_dict else enumerate(node):
            loc = (*path, key)
            if is_dict:
                check(key, loc, "the key")
            if isinstance(item, str):
                check(item, loc, "the value")
            elif isinstance(item, dict | list):
                stack.append((item, loc))
    return errors


class BodyLimitMiddleware:
    """Read the request body before the app, at most ``max_bytes`` (413 above, whether announced by
    Content-Length or sent chunked), and refuse JSON bodies the API cannot keep (check_json_body)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int):
        self.app, self.max_bytes, self.max_depth = app, max_bytes, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = _problem_response(
            413, "body_too_large", f"the request body is larger than {self.max_bytes} bytes (max_body_bytes)"
        )
        content_type = b""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
            elif name == b"content-type":
                content_type = value
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before the end of its body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:  # a chunked body has no Content-Length to check first
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and content_type and _is_json(content_type):
            try:
                check_json_body(body, self.max_depth)
            except BodyRefused as exc:
                await _problem_response(exc.status, exc.code, exc.detail, exc.errors)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then http.disconnect, which streaming responses wait for

        await self.app(scope, replay, send)


class AccessLogMiddleware:
    """One structured log line and the Prometheus counters per request.

    ``routes`` name the route of a request refused before routing (413, a body check).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()):
        self.app, self.routes = app, routes

    def _route_path(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] != Match.NONE), None)
        return getattr(route, "path", "unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None
        request_id = uuid.uuid4().hex

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, send_wrapper)
            failed = False
        finally:
            elapsed = time.perf_counter() - start
            # Bounded labels: the route template (or "unmatched"), a known method (or "other").
            path = self._route_path(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            if status is None:  # no answer: the app crashed (500) or the client left first (499)
                status = 500 if failed else 499
            metrics.HTTP_REQUESTS.labels(method, path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, path).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": _shown(scope["method"], 20),
                    "path": _shown(scope["path"]),
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
    routers = (
        ops.router,
        jobs.router,
        playbooks.router,
        resources.router,
        alarms.router,
        alarms.subscriptions,
        keys.router,
    )
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth
    )
    app.add_middleware(AccessLogMiddleware, routes=[r for router in routers for r in router.routes])
    return app
