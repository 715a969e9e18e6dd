"""Request and response models (the API never returns raw dicts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# Times are UTC; SQLite gives them back without a zone (as text, which pydantic parses).
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]

from .catalogue import MAX_LIMIT_CHARS
from .models import JobStatus
from .redact import redact_vars

Role = Literal["viewer", "operator", "admin"]


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable and machine-readable."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="One entry per offending field: loc, rule, msg."
    )


class JobCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "playbook": "diagnostics",
                    "extra_vars": {"diagnostics_message": "hello"},
                    "limit": "localhost",
                }
            ]
        },
    )

    playbook: str = Field(..., min_length=1, max_length=100, description="Name of a catalogue playbook.")
    extra_vars: dict[str, Any] = Field(
        default_factory=dict, description="Variables, checked against the playbook's schema."
    )
    limit: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_LIMIT_CHARS,
        description="Hosts or groups of the job inventory (ansible --limit): names, * and ? wildcards, "
        "! and & prefixes, separated by , or :; ~regex, @file and [subscripts] are refused.",
    )
    check: bool = False
    diff: bool = False
    callback_url: str | None = Field(
        None, max_length=2000, description="Called on every terminal state (also X-Callback-URL)."
    )


class HostStats(BaseModel):
    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


class CallbackAttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    webhook_id: str
    job_status: str
    attempt: int
    url: str
    at: UtcDatetime
    http_status: int | None
    error: str | None
    duration_ms: int | None
    delivered: bool


class JobPublic(BaseModel):
    id: str
    playbook: str
    status: JobStatus
    reason: str | None = None
    extra_vars: dict[str, Any] = Field(description="As submitted, secret values masked.")
    limit: str | None = None
    check: bool
    diff: bool
    rc: int | None = None
    hosts: dict[str, HostStats] = Field(default_factory=dict, description="Per-host play recap.")
    stats: dict[str, Any] | None = Field(None, description="ansible-runner's stats, as it reports them.")
    resource: str | None = None
    callback_url: str | None = None
    callback_attempts: list[CallbackAttemptPublic] = Field(default_factory=list)
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    links: dict[str, str] = Field(default_factory=dict)


class JobList(BaseModel):
    items: list[JobPublic]
    total: int
    offset: int
    limit: int


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    uuid: str | None
    event: str
    host: str | None
    task: str | None
    created_at: UtcDatetime
    stdout: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventPublic]
    next_after: int = Field(description="Pass as ?after= to get the following page.")
    job_status: JobStatus
    more: bool


class PlaybookPublic(BaseModel):
    name: str
    description: str
    role: Role
    variables: dict[str, Any] = Field(description="JSON Schema of extra_vars.")


class PlaybookList(BaseModel):
    items: list[PlaybookPublic]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field("", max_length=200)


class KeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    token: str = Field(description="The key itself; shown once, stored only as a hash.")


class KeyList(BaseModel):
    items: list[KeyPublic]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    node: str
    database: str
    executor: dict[str, int]


# The job's public view (the API's answers and the callbacks' payload) ---------------------------
_STAT_KEYS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failures",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}


def host_stats(stats: dict | None) -> dict[str, HostStats]:
    hosts: dict[str, dict[str, int]] = {}
    for key, field in _STAT_KEYS.items():
        for host, n in ((stats or {}).get(key) or {}).items():
            hosts.setdefault(host, {})[field] = n
    for host in (stats or {}).get("processed") or {}:
        hosts.setdefault(host, {})
    return {h: HostStats(**v) for h, v in sorted(hosts.items())}


def job_public(job: Any) -> JobPublic:
    """The public view of a job: a ``Job``, or a row of ``Reads.job`` (attributes of the same names,
    raw values that the model's validation converts)."""
    job_id = job.id
    # One validation of one dict (in pydantic's core) rather than a model per part.
    return JobPublic.model_validate(
        {
            "id": job_id,
            "playbook": job.playbook,
            "status": job.status,
            "reason": job.reason,
            "extra_vars": redact_vars(job.extra_vars or {}, job.secret_vars or []),
            "limit": job.limit,
            "check": job.check,
            "diff": job.diff,
            "rc": job.rc,
            "hosts": host_stats(job.stats),
            "stats": job.stats,
            "resource": job.resource,
            "callback_url": job.callback_url,
            "callback_attempts": job.callback_attempts,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "links": {
                "self": f"/v1/jobs/{job_id}",
                "events": f"/v1/jobs/{job_id}/events",
                "cancel": f"/v1/jobs/{job_id}/cancel",
            },
        }
    )


def callback_payload(job: Any) -> dict[str, Any]:
    data = job_public(job).model_dump(mode="json", exclude={"callback_attempts"})
    return data
