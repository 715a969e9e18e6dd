"""API keys: high-entropy random tokens stored as SHA-256 hashes, with roles viewer < operator < admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
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


class KeyCache:
    """Recently authenticated keys, for ``ttl`` seconds: one database read per key, not per request.

    Revocation through this process clears it at once; through another process (the CLI, another
    API node) it takes effect within ``ttl``. Unknown keys are never cached.
    """

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            hit = self._entries.get(digest)
            if hit is None or hit[0] < time.monotonic():
                self._entries.pop(digest, None)
                return None
            return hit[1]

    def put(self, digest: str, principal: Principal) -> None:
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def create_key(session: Session, role: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the clear token is returned once and never stored."""
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=token[: len(TOKEN_PREFIX) + 6], key_hash=hash_token(token))
    session.add(key)
    session.flush()
    return key, token


def authenticate(session: Session, token: str, cache: KeyCache | None = None) -> Principal | None:
    digest = hash_token(token)
    if cache is not None and (hit := cache.get(digest)) is not None:
        return hit
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    # The lookup is by a hash of a 256-bit token; compare again in constant time all the same.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
        return None
    principal = Principal(key_id=key.id, name=key.name, role=key.role)
    if cache is not None:
        cache.put(digest, principal)
    return principal


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is None:
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == key_id)).first()
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
