"""/v1/keys: API key management (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from ..auth import create_key, revoke_key
from ..deps import Admin, ServicesDep
from ..errors import NotFound
from ..models import ApiKey
from ..schemas import KeyCreate, KeyCreated, KeyList, KeyPublic
from .common import AUTH, problems

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=KeyCreated, responses={**AUTH, **problems(400, 413, 422)})
def create(req: KeyCreate, services: ServicesDep, _: Admin) -> KeyCreated:
    with services.sm.begin() as s:
        key, token = create_key(s, req.role, req.name)
        return KeyCreated(**KeyPublic.model_validate(key).model_dump(), token=token)


@router.get("", response_model=KeyList, responses=AUTH)
def list_keys(services: ServicesDep, _: Admin) -> KeyList:
    with services.sm_read() as s:
        keys = s.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()
        return KeyList(items=[KeyPublic.model_validate(k) for k in keys])


@router.delete("/{key_id}", response_model=KeyPublic, responses={**AUTH, **problems(404, 409, 422)})
def revoke(
    key_id: Annotated[str, Path(max_length=36, pattern=r"^[\w-]+$")], services: ServicesDep, _: Admin
) -> KeyPublic:
    """Revoke a key (by id or prefix): refused at once by every API node. The last active admin key
    cannot be revoked (409 ``last_admin_key``)."""
    with services.sm.begin() as s:
        key = revoke_key(s, key_id)
        if key is None:
            raise NotFound(f"API key {key_id} does not exist", code="key_not_found")
        return KeyPublic.model_validate(key)
