"""API keys: high-entropy random tokens stored as SHA-256 hashes, with roles viewer < operator < admin.

Requests look their key up on every call (``Reads.active_key``): there is no cache, so a revoked
key is refused at once by every API process on the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Conflict
from .models import ApiKey, utcnow

ROLES = ("viewer", "operator", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
TOKEN_PREFIX = "scl_"  # noqa: S105 - a marker, not a secret


def hash_token(token: str) -> str:
    # One SHA-256 of a 256-bit random token: a slow KDF adds nothing against guessing such a
    # token and would cost every request (under a microsecond here).
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    key_id: str | None
    name: str
    role: str

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


class LastAdminKey(Conflict):
    code = "last_admin_key"


def create_key(session: Session, role: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the clear token is returned once and never stored."""
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=token[: len(TOKEN_PREFIX) + 6], key_hash=hash_token(token))
    session.add(key)
    session.flush()
    return key, token


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    """Revoke a key by id or prefix; None if there is no such key. Revoking twice is a no-op.

    Raises ``LastAdminKey`` (409) for the last admin key that is not revoked: without it nobody
    could manage keys through the API any more (the CLI on a node can still create one).
    """
    key = session.get(ApiKey, key_id)
    if key is None:
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == key_id)).first()
    if key is None or key.revoked_at is not None:
        return key
    if key.role == "admin":
        # FOR UPDATE on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers): two
        # nodes revoking the last two admin keys at once cannot both see the other one active.
        admins = session.scalars(
            select(ApiKey.id).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None)).with_for_update()
        ).all()
        if key.id not in admins:  # revoked by another request while this one waited for the lock
            session.refresh(key)
            return key
        if len(admins) <= 1:
            raise LastAdminKey(
                f"key {key.id} is the last admin key that is not revoked; create another admin key "
                "before revoking it (rule: at least one admin key stays active)",
            )
    key.revoked_at = utcnow()
    return key
