"""Dependencies of the routes: services, the caller's principal and role checks.

They are coroutines: FastAPI runs a plain ``def`` dependency in the thread pool, a hand-off that
cost more than the rest of a request (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from .auth import Principal, hash_token
from .errors import Forbidden, Invalid, Unauthorized
from .service import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key itself")


class KeyAuth(HTTPBearer):
    """The caller's API key, looked up, and its role checked: one dependency per route.

    It is itself the bearer scheme, with the ``X-API-Key`` header scheme under it (both appear in
    OpenAPI), rather than a chain (bearer, header, services, lookup, role check): each level of
    FastAPI's dependency resolution costs about as much as the key lookup itself.
    """

    def __init__(self, role: str):
        super().__init__(
            scheme_name="HTTPBearer",
            description="Authorization: Bearer <API key>",
            auto_error=False,
        )
        self.role = role

    async def __call__(  # type: ignore[override]
        self, request: Request, header_key: Annotated[str | None, Security(api_key_header)]
    ) -> Principal:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = header_key or ""
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


# Headers shared by the routes that create jobs (POST /v1/jobs, resource PUTs) ---------------------
def idempotency_key(
    value: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Makes the request safe to retry (IETF httpapi draft).",
        ),
    ] = None,
) -> str | None:
    """The key, unquoted (the draft sends an sf-string), or None; refused if empty or unprintable."""
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or not key.isprintable():
        raise Invalid(
            "Idempotency-Key must be a non-empty printable string",
            errors=[{"loc": ["header", "Idempotency-Key"], "rule": "format", "msg": "empty or invalid"}],
        )
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
CallbackHeader = Annotated[
    str | None,
    Header(
        alias="X-Callback-URL", max_length=2000, description="Where to POST the job on each terminal state."
    ),
]
