"""/v1/alarms: the alarm history (Alertmanager's webhook), searchable, acknowledged by operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from .. import alarms
from ..deps import Operator, ServicesDep, Viewer
from ..errors import NotFound
from ..models import Alarm
from ..schemas import UtcDatetime
from .common import AUTH, JOB_ID, problems

router = APIRouter(prefix="/v1/alarms", tags=["alarms"])

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
        return Stored(**alarms.ingest(s, note))


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
