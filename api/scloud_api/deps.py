"""Dependencies of the routes: services, the caller's principal and role checks.

All of them are coroutines: FastAPI runs a plain ``def`` dependency in the thread pool, a hand-off
that cost more than the rest of a request (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .auth import Principal, hash_token
from .errors import Forbidden, Invalid, Unauthorized
from .service import Services

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key itself")


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    token = creds.credentials if creds is not None else header_key
    if not token:
        raise Unauthorized(
            "an API key is required (Authorization: Bearer <key> or X-API-Key)",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # No cache: the indexed lookup costs tens of microseconds, and reading the key on every request
    # is what makes a revocation (through any node or the CLI) refuse the key at once everywhere.
    row = await services.reads.active_key(hash_token(token))
    if row is None:
        raise Unauthorized(
            "the API key is not valid or has been revoked",
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Principal(key_id=row["id"], name=row["name"], role=row["role"])


def require(role: str):
    async def dep(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(role):
            raise Forbidden(
                f"this needs the {role} role; the key has {principal.role}", code="insufficient_role"
            )
        return principal

    return dep


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]


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
