"""Responses shared by the routes' OpenAPI descriptions."""

from __future__ import annotations

from typing import Any

from ..schemas import Problem

JOB_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    desc = {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "Role too low",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        422: "Invalid input",
        503: "Job queue full (queue_full) or job broker unavailable (broker_unavailable); see Retry-After",
    }
    return {
        c: {
            "model": Problem,
            "description": desc.get(c, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for c in codes
    }


AUTH = problems(401, 403)
