"""The short reads of the request path, awaited on the event loop: no thread pool, no ORM.

Every request looks its key up, and ``GET /v1/jobs/{id}``, ``/healthz`` and the event streams read
a row or a few. Through a SQLAlchemy Session in the thread pool each read cost 1-2 ms of the one
core an API process has (the profile is in docs/benchmarks.md); here each statement is compiled
once by SQLAlchemy for the engine's dialect (the columns come from the models), run on a DBAPI
connection; its JSON columns are decoded by the dialect's processor, and the rest goes to the
response models as the driver gives it (pydantic's core parses SQLite's text datetimes and 0/1
booleans), so a job reads the same as through the ORM.

- SQLite: one connection that only the event loop uses, queried inline. A local file in WAL mode,
  where readers never wait for writers, answers an indexed read in tens of microseconds: less than
  handing it to a thread costs. ``query_only`` keeps this connection from ever writing.
- PostgreSQL: a psycopg asyncio pool, so the loop never waits on the network.

Writes stay with the Session (``Services.sm``) in the thread pool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import JSON, Integer, bindparam, literal_column, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from .models import ApiKey, CallbackAttempt, Job, JobEvent
from .schemas import CallbackAttemptPublic

# A reader waits this long for a lock SQLite itself holds briefly (WAL recovery after a crash);
# it never waits for writers. Bounded so a wedged database cannot stall the event loop for long.
SQLITE_BUSY_MS = 2000


@dataclass(frozen=True)
class Statement:
    """A select compiled once for one dialect: SQL text, parameter order, JSON columns."""

    sql: str
    order: tuple[str, ...] | None  # positional parameter names (SQLite's qmark); None: named
    names: tuple[str, ...]
    decode: tuple[tuple[str, Callable[[Any], Any]], ...]  # JSON columns the driver gives as text
    fixed: dict[str, Any]  # parameters the compiler added itself (SQLite's OFFSET 0 after a LIMIT)

    @classmethod
    def compile(cls, stmt: Select, dialect) -> Statement:
        compiled = stmt.compile(dialect=dialect)
        cols = list(stmt.selected_columns)
        decode = []
        for c in cols:
            # JSON only: datetimes and booleans go to the response models as the driver gives
            # them (SQLite: text, 0/1), which pydantic's core converts faster than SQLAlchemy's
            # processors in Python; psycopg decodes JSON itself (no processor).
            proc = c.type.dialect_impl(dialect).result_processor(dialect, None)
            if isinstance(c.type, JSON) and proc is not None:
                decode.append((c.key, proc))
        return cls(
            sql=str(compiled),
            order=tuple(compiled.positiontup or ()) if dialect.positional else None,
            names=tuple(c.key for c in cols),
            decode=tuple(decode),
            fixed={k: v for k, v in compiled.params.items() if v is not None},
        )

    def params(self, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = {**self.fixed, **values} if self.fixed else values
        return [values[k] for k in self.order] if self.order is not None else values

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(self.names, raw, strict=True))
        for name, proc in self.decode:
            row[name] = proc(row[name])
        return row


JOB_COLUMNS = (
    "id", "playbook", "status", "reason", "extra_vars", "secret_vars", "limit", "check", "diff", "rc",
    "stats", "resource", "callback_url", "created_at", "started_at", "finished_at",
)  # fmt: skip
ATTEMPT_COLUMNS = tuple(CallbackAttemptPublic.model_fields)


def _statements() -> dict[str, Select]:
    return {
        "key": select(ApiKey.id, ApiKey.name, ApiKey.role).where(
            ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None)
        ),
        # Only what job_public shows: each column read is a conversion (JSON, datetime) per request.
        "job": select(*(Job.__table__.c[name] for name in JOB_COLUMNS)).where(Job.id == bindparam("id")),
        "attempts": select(*(CallbackAttempt.__table__.c[name] for name in ATTEMPT_COLUMNS))
        .where(CallbackAttempt.job_id == bindparam("id"))
        .order_by(CallbackAttempt.id),
        "status": select(Job.status).where(Job.id == bindparam("id")),
        "events": select(*JobEvent.__table__.columns)
        .where(JobEvent.job_id == bindparam("id"), JobEvent.seq > bindparam("after"))
        .order_by(JobEvent.seq)
        .limit(bindparam("limit", type_=Integer)),
        "ping": select(literal_column("1", Integer).label("one")),
    }


class Reads:
    """Awaitable indexed reads for the request path (call them from the event loop only)."""

    def __init__(self, engine: Engine, pool_size: int = 10):
        self.dialect = engine.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.q = {name: Statement.compile(stmt, self.dialect) for name, stmt in _statements().items()}
        self._url = engine.url
        self._pool_size = pool_size
        self._conn: sqlite3.Connection | None = None
        self._pool = None

    # Connections ----------------------------------------------------------------------------------
    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            # check_same_thread off: created on the loop thread, which may not be the one that built
            # the app (tests run uvicorn in a thread); only that loop uses it, one call at a time.
            conn = sqlite3.connect(self._url.database, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            conn.execute("PRAGMA query_only=ON")
            self._conn = conn
        return self._conn

    async def open(self) -> None:
        if self.sqlite or self._pool is not None:
            return
        from psycopg.rows import tuple_row
        from psycopg_pool import AsyncConnectionPool

        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            # Autocommit: a read never leaves a transaction open between requests.
            kwargs={"autocommit": True, "row_factory": tuple_row},
            name="scloud-api-reads",
        )
        self._pool = pool
        await pool.open()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _fetch(self, name: str, values: dict[str, Any], many: bool) -> list[dict[str, Any]]:
        st = self.q[name]
        if self.sqlite:
            cur = self._sqlite_conn().execute(st.sql, st.params(values))
            raws = cur.fetchall() if many else [r] if (r := cur.fetchone()) is not None else []
            return [st.row(r) for r in raws]
        import psycopg

        if self._pool is None:
            await self.open()
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(st.sql, st.params(values))
                    raws = await cur.fetchall() if many else [r] if (r := await cur.fetchone()) else []
                return [st.row(r) for r in raws]
            except psycopg.OperationalError:
                # A pooled connection the server closed (restart, failover): the pool drops it;
                # read once more on a fresh one, as pool_pre_ping does for the Session.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _one(self, name: str, **values: Any) -> dict[str, Any] | None:
        rows = await self._fetch(name, values, many=False)
        return rows[0] if rows else None

    # Reads ----------------------------------------------------------------------------------------
    async def ping(self) -> None:
        await self._one("ping")

    async def active_key(self, digest: str) -> dict[str, Any] | None:
        """The key with this SHA-256 digest if it exists and is not revoked (unique index)."""
        return await self._one("key", digest=digest)

    async def job(self, job_id: str) -> SimpleNamespace | None:
        """The job and its callback attempts, shaped like a ``Job`` for ``job_public``."""
        row = await self._one("job", id=job_id)
        if row is None:
            return None
        row["callback_attempts"] = await self._fetch("attempts", {"id": job_id}, many=True)
        return SimpleNamespace(**row)

    async def job_status(self, job_id: str) -> str | None:
        row = await self._one("status", id=job_id)
        return row["status"] if row else None

    async def events(self, job_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        return await self._fetch("events", {"id": job_id, "after": after, "limit": limit}, many=True)
