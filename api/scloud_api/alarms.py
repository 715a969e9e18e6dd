"""Alarms: Alertmanager's webhook stored as the alarm history, read and acknowledged through the API.

Alertmanager (clustered on the mgmt nodes, docs/monitoring.md) posts each notification of a group of
alerts to ``POST /v1/alarms/webhook`` with an operator key. Each alert is one alarm: its labels'
``fingerprint`` and its ``startsAt`` name it, so a replica receiving the same notification again, or
Alertmanager repeating it, updates the same row; the same alert firing again after its resolution
is a new alarm. A resolution is final for its alarm: a late repeat of the firing does not reopen it.

Subscribers (``AlarmSubscription``) get a signed callback when an alarm they asked for opens and when
it resolves: ``ingest`` writes one ``AlarmNotice`` per subscriber and change in the same transaction
(unique per subscription, alarm and event, so a replica storing the same notification again adds
none), and the API node delivers them after the commit (``callbacks.py``).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Alarm, AlarmNotice, AlarmSubscription, new_id, utcnow

FIRING, RESOLVED = "firing", "resolved"
# Alertmanager writes this for an alert that has no end yet.
_NO_END_YEAR = 1


class Alert(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=64)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=64)
    startsAt: datetime  # noqa: N815 - Alertmanager's name
    endsAt: datetime | None = None  # noqa: N815
    fingerprint: str = Field(..., min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    generatorURL: str | None = Field(None, max_length=2000)  # noqa: N815


class Notification(BaseModel):
    """Alertmanager's webhook body: a group of alerts."""

    model_config = ConfigDict(extra="ignore")

    version: str = Field(..., max_length=8)
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=255)
    alerts: list[Alert] = Field(..., max_length=1000)


def _node(labels: dict[str, str]) -> str | None:
    # `vm_node`: the node of a VM's alarm (VmDownUnexpectedly), whose `node` is the API replica's.
    for key in ("node", "vm_node"):
        if labels.get(key):
            return labels[key][:255]
    instance = labels.get("instance")
    return instance.rsplit(":", 1)[0][:255] if instance else None


def _resource(labels: dict[str, str]) -> str | None:
    for key in ("resource", "ceph_daemon", "domain", "vm", "pool", "database"):
        if labels.get(key):
            return labels[key][:255]
    return None


def _find(s: Session, alert: Alert) -> Alarm | None:
    same = (Alarm.fingerprint == alert.fingerprint, Alarm.starts_at == alert.startsAt)
    return s.scalar(select(Alarm).where(*same))


def alarm_payload(alarm: Alarm) -> dict[str, Any]:
    """An alarm as the API shows it (``GET /v1/alarms/{id}``): the data of its callbacks."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": alarm.id,
        "name": alarm.name,
        "severity": alarm.severity,
        "status": alarm.status,
        "node": alarm.node,
        "resource": alarm.resource,
        "summary": alarm.summary,
        "labels": alarm.labels,
        "annotations": alarm.annotations,
        "fingerprint": alarm.fingerprint,
        "starts_at": when(alarm.starts_at),
        "ends_at": when(alarm.ends_at),
        "acknowledged_at": when(alarm.acknowledged_at),
        "acknowledged_by": alarm.acknowledged_by,
    }


def matches(sub: AlarmSubscription, alarm: Alarm) -> bool:
    return (not sub.severities or alarm.severity in sub.severities) and (
        not sub.alarms or alarm.name in sub.alarms
    )


def _notify(s: Session, alarm: Alarm, event: str, node: str, notices: list[str]) -> None:
    """One notice per subscription that wants this alarm's ``event`` (alarm.firing, alarm.resolved)."""
    subs = [sub for sub in s.scalars(select(AlarmSubscription)) if matches(sub, alarm)]
    if not subs:
        return
    now = utcnow()
    body = json.dumps(
        {"type": event, "timestamp": now.isoformat(), "data": alarm_payload(alarm)}, separators=(",", ":")
    )
    for sub in subs:
        notice = AlarmNotice(
            id=f"msg_{uuid.uuid4().hex}",
            subscription_id=sub.id,
            alarm_id=alarm.id,
            event=event,
            url=sub.url,
            body=body,
            node=node,
            created_at=now,
            attempts=0,
            delivered=False,
        )
        try:
            with s.begin_nested():
                s.add(notice)
        except IntegrityError:
            continue  # another replica wrote it: it delivers it
        notices.append(notice.id)


def ingest(s: Session, note: Notification, node: str = "") -> tuple[dict[str, int], list[str]]:
    """Store every alert of one notification. Returns how many alarms it opened, updated, resolved,
    and the notices to deliver once the transaction is committed."""
    counts = {"opened": 0, "updated": 0, "resolved": 0}
    notices: list[str] = []
    now = utcnow()
    for alert in note.alerts:
        ends = alert.endsAt if alert.endsAt and alert.endsAt.year > _NO_END_YEAR else None
        row = _find(s, alert)
        if row is None:
            row = Alarm(
                id=new_id(),
                fingerprint=alert.fingerprint,
                name=alert.labels.get("alertname", "unnamed")[:255],
                severity=alert.labels.get("severity", "none")[:32],
                status=alert.status,
                node=_node(alert.labels),
                resource=_resource(alert.labels),
                summary=alert.annotations.get("summary") or alert.annotations.get("description") or "",
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.startsAt,
                ends_at=ends if alert.status == RESOLVED else None,
                received_at=now,
                updated_at=now,
            )
            try:
                with s.begin_nested():
                    s.add(row)
            except IntegrityError:
                # Another replica stored it a moment ago (the same notification twice): update that one.
                row = _find(s, alert)
            else:
                counts["resolved" if alert.status == RESOLVED else "opened"] += 1
                _notify(s, row, f"alarm.{alert.status}", node, notices)
                continue
        if row.status == RESOLVED:
            continue  # final: a late repeat of the firing does not reopen it
        row.annotations, row.updated_at = alert.annotations, now
        if alert.status == RESOLVED:
            row.status, row.ends_at = RESOLVED, ends or now
            counts["resolved"] += 1
            _notify(s, row, "alarm.resolved", node, notices)
        else:
            counts["updated"] += 1
    return counts, notices


def query(
    s: Session,
    *,
    status: str | None = None,
    severity: str | None = None,
    node: str | None = None,
    resource: str | None = None,
    name: str | None = None,
    acknowledged: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Alarm], int]:
    """Alarms, newest first, filtered: the history is searchable by time, severity, node, resource."""
    where: list[Any] = []
    for column, value in (
        (Alarm.status, status),
        (Alarm.severity, severity),
        (Alarm.node, node),
        (Alarm.resource, resource),
        (Alarm.name, name),
    ):
        if value is not None:
            where.append(column == value)
    if acknowledged is not None:
        where.append(Alarm.acknowledged_at.is_not(None) if acknowledged else Alarm.acknowledged_at.is_(None))
    if since is not None:
        where.append(Alarm.starts_at >= since)
    if until is not None:
        where.append(Alarm.starts_at < until)
    total = s.scalar(select(func.count()).select_from(Alarm).where(*where)) or 0
    rows = s.scalars(
        select(Alarm).where(*where).order_by(Alarm.starts_at.desc(), Alarm.id).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def acknowledge(s: Session, alarm: Alarm, who: str, comment: str | None) -> Alarm:
    """Acknowledged once (the first operator and time stay); a later call may add a comment."""
    if alarm.acknowledged_at is None:
        alarm.acknowledged_at, alarm.acknowledged_by = utcnow(), who
    if comment is not None:
        alarm.ack_comment = comment
    return alarm
