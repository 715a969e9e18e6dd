"""Dependencies of the routes: services, the caller's principal and role checks.

They are coroutines: FastAPI runs a plain ``def`` dependency in the thread pool, a hand-off that
cost more than the rest of a request (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from .auth import Principal, hash_token
from .errors import Forbidden, Unauthorized
from .service import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


class KeyAuth(HTTPBearer):
    """The caller's API key, looked up, and its role checked: one dependency per route.

    It is its own OpenAPI security scheme (``HTTPBearer``) rather than a chain of dependencies
    (bearer scheme, ``X-API-Key`` header scheme, lookup, role check): each level of FastAPI's
    dependency resolution cost about as much as the key lookup itself. ``X-API-Key`` is still
    accepted, as its description says.
    """

    def __init__(self, role: str):
        super().__init__(
            scheme_name="HTTPBearer",
            description="Authorization: Bearer <API key> (or the key alone in an X-API-Key header)",
            auto_error=False,
        )
        self.role = role

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        headers = request.headers
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = headers.get("x-api-key") or ""
        token = token.strip()
        if not token:
            raise Unauthorized(
                "an API key is required (Authorization: Bearer <key> or X-API-Key)",
                code="missing_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # No cache: the indexed lookup costs tens of microseconds, and reading the key on every
        # request is what makes a revocation (through any node or the CLI) refuse it at once.
        row = await request.app.state.services.reads.active_key(hash_token(token))
        if row is None:
            raise Unauthorized(
                "the API key is not valid or has been revoked",
                code="invalid_api_key",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        principal = Principal(key_id=row["id"], name=row["name"], role=row["role"])
        if not principal.can(self.role):
            raise Forbidden(
                f"this needs the {self.role} role; the key has {principal.role}", code="insufficient_role"
            )
        return principal


Viewer = Annotated[Principal, Security(KeyAuth("viewer"))]
Operator = Annotated[Principal, Security(KeyAuth("operator"))]
Admin = Annotated[Principal, Security(KeyAuth("admin"))]
