"""API keys: high-entropy random tokens stored as SHA-256 hashes, with roles viewer < operator < admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import ApiKey, utcnow

ROLES = ("viewer", "operator", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
TOKEN_PREFIX = "scl_"  # noqa: S105 - a marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def create_key(session: Session, role: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the clear token is returned once and never stored."""
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=token[: len(TOKEN_PREFIX) + 6], key_hash=hash_token(token))
    session.add(key)
    session.flush()
    return key, token


def authenticate(session: Session, token: str) -> Principal | None:
    digest = hash_token(token)
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    # The lookup is by a hash of a 256-bit token; compare again in constant time all the same.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        return None
    return Principal(key_id=key.id, name=key.name, role=key.role)


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is None:
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == key_id)).first()
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
