"""Dependencies of the routes: services, the caller's principal and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .auth import Principal, authenticate, hash_token
from .errors import Forbidden, Unauthorized
from .service import Services

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key itself")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
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
    principal = services.key_cache.get(hash_token(token))
    if principal is None:
        with services.sm_read() as s:
            principal = authenticate(s, token, services.key_cache)
    if principal is None:
        raise Unauthorized(
            "the API key is not valid or has been revoked",
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


def require(role: str):
    def dep(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(role):
            raise Forbidden(
                f"this needs the {role} role; the key has {principal.role}", code="insufficient_role"
            )
        return principal

    return dep


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
