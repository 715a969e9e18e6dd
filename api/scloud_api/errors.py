"""One error family for the API, rendered as RFC 9457 problem details with a machine-readable code."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status, a stable ``code`` and an optional list of detailed errors."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Invalid(ApiError):
    status = 422
    code = "validation_error"


class ServiceUnavailable(ApiError):
    status = 503
    code = "unavailable"


def problem(
    status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None, title: str | None = None
) -> dict[str, Any]:
    from http import HTTPStatus

    return {
        "type": f"urn:scloud:error:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        "errors": errors or [],
    }
