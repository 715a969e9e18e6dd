"""/v1/alarms: the alarm history (Alertmanager's webhook), searchable, acknowledged by operators;
/v1/alarm-subscriptions: receivers of signed callbacks when alarms open and resolve."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from .. import alarms
from ..callbacks import check_callback_url
from ..deps import Operator, ServicesDep, Viewer
from ..errors import NotFound
from ..models import Alarm, AlarmNotice, AlarmSubscription, utcnow
from ..schemas import UtcDatetime
from .common import AUTH, JOB_ID, problems

router = APIRouter(prefix="/v1/alarms", tags=["alarms"])
subscriptions = APIRouter(prefix="/v1/alarm-subscriptions", tags=["alarms"])

AlarmId = Annotated[str, Path(pattern=JOB_ID)]
Label = Annotated[str | None, Query(max_length=255)]


class AlarmPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str = Field(description="The rule's alertname, e.g. CephOsdDown.")
    severity: str
    status: str = Field(description="firing or resolved")
    node: str | None = Field(None, description="The node it is about (label node, else instance).")
    resource: str | None = Field(None, description="The resource it is about (an OSD, a VM, a pool).")
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(description="summary, description, runbook")
    fingerprint: str
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    received_at: UtcDatetime
    updated_at: UtcDatetime
    acknowledged_at: UtcDatetime | None
    acknowledged_by: str | None
    ack_comment: str | None


class AlarmList(BaseModel):
    items: list[AlarmPublic]
    total: int
    offset: int
    limit: int


class AlarmAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, max_length=1000)


class Stored(BaseModel):
    opened: int
    updated: int
    resolved: int


@router.post("/webhook", response_model=Stored, responses={**AUTH, **problems(413, 422)})
def webhook(note: alarms.Notification, services: ServicesDep, _: Operator) -> Stored:
    """Alertmanager's webhook receiver (``webhook_configs`` with an operator key as its bearer
    credentials): every alert of the notification stored or updated in the alarm history."""
    with services.sm.begin() as s:
        counts, notices = alarms.ingest(s, note, services.settings.node_name)
    for notice_id in notices:  # committed: a crash from here on leaves them to recover()
        services.callbacks.dispatch_notice(notice_id)
    return Stored(**counts)


@router.get("", response_model=AlarmList, responses={**AUTH, **problems(422)})
def list_alarms(
    services: ServicesDep,
    _: Viewer,
    status: Annotated[str | None, Query(pattern="^(firing|resolved)$")] = None,
    severity: Label = None,
    node: Label = None,
    resource: Label = None,
    name: Label = None,
    acknowledged: bool | None = None,
    since: Annotated[UtcDatetime | None, Query(description="Started at or after (ISO 8601).")] = None,
    until: Annotated[UtcDatetime | None, Query(description="Started before (ISO 8601).")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlarmList:
    """The alarm history, newest first; filters: status, severity, node, resource, name,
    acknowledged, and the time the alarm started (since, until)."""
    filters: dict[str, Any] = dict(
        status=status, severity=severity, node=node, resource=resource, name=name, acknowledged=acknowledged
    )
    with services.sm_read() as s:
        rows, total = alarms.query(s, since=since, until=until, offset=offset, limit=limit, **filters)
        return AlarmList(
            items=[AlarmPublic.model_validate(r) for r in rows], total=total, offset=offset, limit=limit
        )


def _alarm(s, alarm_id: str) -> Alarm:
    alarm = s.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"alarm {alarm_id} does not exist", code="alarm_not_found")
    return alarm


@router.get("/{alarm_id}", response_model=AlarmPublic, responses={**AUTH, **problems(404, 422)})
def get_alarm(alarm_id: AlarmId, services: ServicesDep, _: Viewer) -> AlarmPublic:
    """One alarm."""
    with services.sm_read() as s:
        return AlarmPublic.model_validate(_alarm(s, alarm_id))


@router.post("/{alarm_id}/ack", response_model=AlarmPublic, responses={**AUTH, **problems(404, 422)})
def ack_alarm(alarm_id: AlarmId, body: AlarmAck, services: ServicesDep, principal: Operator) -> AlarmPublic:
    """Acknowledge an alarm: who and when are kept (the first acknowledgement), with a comment."""
    with services.sm.begin() as s:
        alarm = alarms.acknowledge(s, _alarm(s, alarm_id), principal.name, body.comment)
        return AlarmPublic.model_validate(alarm)


# Subscriptions -------------------------------------------------------------------------------------
SubName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
Severity = Literal["critical", "warning", "info"]
AlertName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")]


class SubscriptionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        ...,
        max_length=2000,
        description="Where the signed callbacks go (https or http); on the operator's allow-list, as "
        "a job's callback_url.",
    )
    severities: list[Severity] = Field(
        default_factory=list, max_length=3, description="Only alarms of these severities; empty: all."
    )
    alarms: list[AlertName] = Field(
        default_factory=list, max_length=100, description="Only these rules (alertname); empty: all."
    )


class NoticePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The webhook-id of its callbacks (the same across retries).")
    alarm_id: str
    event: str = Field(description="alarm.firing or alarm.resolved")
    created_at: UtcDatetime
    attempts: int
    delivered: bool
    last_at: UtcDatetime | None
    http_status: int | None
    error: str | None


class SubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    url: str
    severities: list[str]
    alarms: list[str]
    created_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    recent: list[NoticePublic] = Field(
        default_factory=list, description="Its 20 latest callbacks, newest first, with their delivery."
    )


class SubscriptionList(BaseModel):
    items: list[SubscriptionPublic]


def _subscription(s, name: str) -> AlarmSubscription:
    sub = s.scalars(select(AlarmSubscription).where(AlarmSubscription.name == name)).first()
    if sub is None:
        raise NotFound(f"alarm subscription {name} does not exist", code="alarm_subscription_not_found")
    return sub


def _public(s, sub: AlarmSubscription, recent: bool) -> SubscriptionPublic:
    out = SubscriptionPublic.model_validate(sub)
    if recent:
        rows = s.scalars(
            select(AlarmNotice)
            .where(AlarmNotice.subscription_id == sub.id)
            .order_by(AlarmNotice.created_at.desc(), AlarmNotice.id)
            .limit(20)
        )
        out.recent = [NoticePublic.model_validate(r) for r in rows]
    return out


@subscriptions.put(
    "/{name}",
    response_model=SubscriptionPublic,
    responses={201: {"model": SubscriptionPublic, "description": "Created"}, **AUTH, **problems(413, 422)},
)
def put_subscription(
    name: SubName, spec: SubscriptionSpec, response: Response, services: ServicesDep, principal: Operator
) -> SubscriptionPublic:
    """Create or replace a subscription: every alarm matching its filters that opens or resolves
    from now on is sent to its URL, signed as jobs' callbacks are (``webhook-id``,
    ``webhook-timestamp``, ``webhook-signature``), with the body ``{"type": "alarm.firing" |
    "alarm.resolved", "timestamp", "data": <the alarm>}``. ``201`` when created, ``200`` when replaced."""
    check_callback_url(spec.url, services.settings, ["body", "url"])
    with services.sm.begin() as s:
        sub = s.scalars(select(AlarmSubscription).where(AlarmSubscription.name == name)).first()
        now = utcnow()
        if sub is None:
            sub = AlarmSubscription(name=name, created_by=principal.name, created_at=now)
            s.add(sub)
            response.status_code = 201
        sub.url, sub.severities, sub.alarms, sub.updated_at = (
            spec.url,
            list(spec.severities),
            spec.alarms,
            now,
        )
        s.flush()
        return _public(s, sub, recent=False)


@subscriptions.get("", response_model=SubscriptionList, responses={**AUTH})
def list_subscriptions(services: ServicesDep, _: Viewer) -> SubscriptionList:
    """Every subscription, by name."""
    with services.sm_read() as s:
        subs = s.scalars(select(AlarmSubscription).order_by(AlarmSubscription.name))
        return SubscriptionList(items=[_public(s, sub, recent=False) for sub in subs])


@subscriptions.get("/{name}", response_model=SubscriptionPublic, responses={**AUTH, **problems(404, 422)})
def get_subscription(name: SubName, services: ServicesDep, _: Viewer) -> SubscriptionPublic:
    """One subscription and its latest callbacks (delivered or not, attempts, last error)."""
    with services.sm_read() as s:
        return _public(s, _subscription(s, name), recent=True)


@subscriptions.delete("/{name}", status_code=204, responses={**AUTH, **problems(404, 422)})
def delete_subscription(name: SubName, services: ServicesDep, _: Operator) -> Response:
    """Delete a subscription; its undelivered callbacks are dropped."""
    with services.sm.begin() as s:
        s.delete(_subscription(s, name))
    return Response(status_code=204)
