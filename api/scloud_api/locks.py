"""Locks across API nodes: one request at a time per resource, one placement at a time.

On PostgreSQL a lock is a transaction-level advisory lock (``pg_advisory_xact_lock``) on a 64-bit key
derived from the resource's name: every API replica shares the database, so the lock holds across
nodes, and PostgreSQL releases it with the transaction (commit, rollback or a dead connection), so a
crashed replica never leaves one behind. SQLite is the single-process embedded database: every write
transaction already takes the database's write lock at BEGIN (db.py), and a process-wide lock per key
orders the requests of this process's threads.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()

PLACEMENT = "placement"


def lock_key(name: str) -> int:
    """A signed 64-bit key for ``name`` (advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def held(session: Session, *names: str) -> Iterator[None]:
    """Hold the locks of ``names`` (sorted: two requests never wait on each other) until the end of
    ``session``'s transaction (PostgreSQL) or of the block (SQLite)."""
    names = tuple(sorted(set(names)))
    if session.get_bind().dialect.name == "postgresql":
        for name in names:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})
        yield
        return
    with _local_guard:
        locks = [_local_locks.setdefault(name, threading.Lock()) for name in names]
    for lock in locks:
        lock.acquire()
    try:
        yield
    finally:
        for lock in reversed(locks):
            lock.release()
