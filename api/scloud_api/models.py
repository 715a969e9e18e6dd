"""Persistent state: API keys, jobs, their events, callback attempts and idempotency keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite gives naive ones back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class JobStatus(StrEnum):
    """A job's status: the only values ``jobs.status`` holds (stored as their text)."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.TIMEOUT})
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING})


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    playbook: Mapped[str] = mapped_column(String(100), index=True)
    extra_vars: Mapped[dict] = mapped_column(JSON, default=dict)
    secret_vars: Mapped[list] = mapped_column(JSON, default=list)
    limit: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    check: Mapped[bool] = mapped_column(Boolean, default=False)
    diff: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value, index=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rc: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stats: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    owner_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Executor bookkeeping: how many times the job was claimed (a Celery worker that takes over the
    # job of a dead worker claims it again), and when its runner last proved it was alive.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    resource: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    callback_attempts: Mapped[list[CallbackAttempt]] = relationship(
        back_populates="job", order_by="CallbackAttempt.id", lazy="selectin"
    )


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event: Mapped[str] = mapped_column(String(64))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    task: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stdout: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[str] = mapped_column(String(64))
    job_status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)

    job: Mapped[Job] = relationship(back_populates="callback_attempts")


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key", name="uq_idempotency_scope_key"),
        Index("ix_idempotency_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The cloud's registry (PUT /v1/vms, /v1/volumes, /v1/vpcs, ...): one record per virtual resource ---
class ResourceKind(StrEnum):
    VM = "vm"
    VOLUME = "volume"
    VPC = "vpc"
    SUBNET = "subnet"
    SECURITY_GROUP = "security_group"
    PUBLIC_IP = "public_ip"
    LOAD_BALANCER = "load_balancer"
    ALARM_RULE = "alarm_rule"
    SNAPSHOT = "snapshot"
    BACKUP = "backup"


class ResourceStatus(StrEnum):
    """What the registry knows of a resource: ``pending`` (its job has not ended yet), ``ready``
    (the last job converged it), ``error`` (the last job failed: the spec is kept, the next PUT
    retries), ``deleting`` (a DELETE's job runs; the record goes when it succeeds)."""

    PENDING = "pending"
    READY = "ready"
    ERROR = "error"
    DELETING = "deleting"


class Node(Base):
    """A compute node as the scheduler sees it: capacity read from the node by the ``nodes`` job."""

    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    set_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    up: Mapped[bool] = mapped_column(Boolean, default=True)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Resource(Base):
    """One virtual resource: its desired spec (``generation`` counts the changes of it), what the
    engines last showed (``observed``), where it is (``node``) and which job last converged it.

    ``vcpus``/``memory_mb`` of a VM are its claim on its node: placement sums them per node in the
    same transaction that inserts the record, under the placement lock (no overcommit)."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("kind", "name", name="uq_resources_kind_name"),
        Index("ix_resources_node", "node"),
        # Placement reads only these: what the VMs claim per node (a covering index), and where the
        # VMs of one affinity group are.
        Index("ix_resources_claims", "kind", "node", "vcpus", "memory_mb"),
        Index("ix_resources_group", "kind", "affinity_group", "node"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    spec: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ResourceStatus.PENDING.value)
    observed: Mapped[dict] = mapped_column(JSON, default=dict)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    addresses: Mapped[dict] = mapped_column(JSON, default=dict)
    placement: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    affinity_group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    last_job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ResourceClaim(Base):
    """A business value only one resource may hold, as a database constraint: a public IP's address,
    a subnet's CIDR in its VPC, a port's IP in its subnet, a non-shareable volume's attachment."""

    __tablename__ = "resource_claims"
    __table_args__ = (UniqueConstraint("scope", "value", name="uq_resource_claims_scope_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(300))
    value: Mapped[str] = mapped_column(String(300))


class Alarm(Base):
    """One alert of Alertmanager, from its first firing to its resolution: the alarm history.

    An alert is one ``fingerprint`` (its labels) and one ``starts_at``: the same alert firing again
    after it was resolved is a new alarm. ``status`` is firing or resolved; an operator acknowledges
    an alarm without changing it (Alertmanager decides when it is resolved)."""

    __tablename__ = "alarms"
    __table_args__ = (
        UniqueConstraint("fingerprint", "starts_at", name="uq_alarms_fingerprint_start"),
        Index("ix_alarms_starts_at", "starts_at"),
        Index("ix_alarms_status", "status", "severity"),
        Index("ix_alarms_node", "node"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    fingerprint: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource: Mapped[str | None] = mapped_column(String(255), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ack_comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlarmSubscription(Base):
    """A receiver of the alarms: every alarm that opens or resolves and matches its filters is sent
    to ``url`` as a signed callback (the jobs' signature, allow-list and retries)."""

    __tablename__ = "alarm_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    severities: Mapped[list] = mapped_column(JSON, default=list)  # empty: every severity
    alarms: Mapped[list] = mapped_column(JSON, default=list)  # alert names; empty: every alarm
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlarmNotice(Base):
    """One callback to send: an alarm's opening or resolution for one subscription (an outbox row,
    written in the transaction that stores the alarm, so a crash between the two loses nothing).

    Unique per subscription, alarm and event: however many replicas or repeats of Alertmanager's
    notification arrive, a subscriber is called once per change (at least once: retries keep the
    ``id``, the ``webhook-id`` a receiver deduplicates on)."""

    __tablename__ = "alarm_notices"
    __table_args__ = (
        UniqueConstraint("subscription_id", "alarm_id", "event", name="uq_alarm_notices_once"),
        Index("ix_alarm_notices_pending", "node", "delivered", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("alarm_subscriptions.id", ondelete="CASCADE"), index=True
    )
    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))  # alarm.firing, alarm.resolved
    url: Mapped[str] = mapped_column(String(2000))
    body: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(String(255))  # the API node that stored it and delivers it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
