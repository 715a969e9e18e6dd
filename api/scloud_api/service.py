"""The behaviour behind the routes: job submission (with idempotency keys), cancel, recovery."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import metrics
from .auth import RANK, Principal
from .callbacks import check_callback_url
from .catalogue import Inventory, validate_vars
from .db import make_engine, make_sessionmaker
from .errors import ApiError, Conflict, Forbidden, Invalid, NotFound, ServiceUnavailable
from .executor import Executor, make_executor
from .jobprocs import kill_job
from .jobrun import ansible_env, kill_orphan
from .models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    AlarmNotice,
    IdempotencyKey,
    Job,
    JobStatus,
    Node,
    new_id,
    utcnow,
)
from .observe import apply_job_result
from .reads import Reads
from .registry import NODES_KEY, Registry
from .runtime import Runtime
from .schemas import JobCreate, JobPublic, job_public
from .settings import Settings

log = logging.getLogger("scloud_api.service")
# The API itself, when it starts a job of its own (the nodes' refresh).
SYSTEM = Principal(key_id=None, name="scloud-api", role="admin")
# Seconds a client is asked to wait when the job queue is full: jobs take seconds to minutes.
QUEUE_FULL_RETRY_AFTER = 5


def fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    canon = json.dumps(
        {"m": method, "p": path, "b": body}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canon.encode()).hexdigest()


class Services:
    """Everything one API process holds: settings, database, catalogue, executor, callbacks."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.runtime = Runtime(settings)
        self.engine, self.sm = self.runtime.engine, self.runtime.sm
        self.catalogue, self.callbacks = self.runtime.catalogue, self.runtime.callbacks
        # Reads on SQLite take no write lock; on PostgreSQL this is the same engine.
        self.read_engine = (
            make_engine(settings.db_url, read_only=True)
            if self.engine.dialect.name == "sqlite"
            else self.engine
        )
        self.sm_read: sessionmaker[Session] = make_sessionmaker(self.read_engine)
        self.reads = Reads(self.read_engine)  # the request path's reads, on the event loop
        self._queue_lock = threading.Lock()
        self._admitting = 0  # submissions admitted by _take_queue_slot, not yet in the executor's queue
        self.inventory = Inventory(settings.inventory_path, ansible_env(settings))
        self.executor: Executor = make_executor(settings, self.sm, self.catalogue, self.callbacks.dispatch)
        self.registry = Registry(self)
        self._stopping = threading.Event()

    # Life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.runtime.migrate()
        self.recover()
        self.executor.start()
        with self.sm() as s:
            queued = s.scalars(
                select(Job.id)
                .where(Job.status == JobStatus.QUEUED, Job.node == self.settings.node_name)
                .order_by(Job.created_at)
            ).all()
        for job_id in queued:  # with celery: the publish may have been lost with the process
            try:
                self.executor.submit(job_id)
            except Exception:  # the broker is down: the job stays queued until the next start
                log.exception("queued job not re-published", extra={"job_id": job_id})
        if self.settings.refresh_nodes_at_start:
            self._refresh_nodes_once()
        if self.settings.reconcile_seconds:
            self._reconciler = threading.Thread(target=self._reconcile_loop, name="reconcile", daemon=True)
            self._reconciler.start()
        if self.settings.backup_tick_seconds:
            self._backups = threading.Thread(target=self._backup_loop, name="backups", daemon=True)
            self._backups.start()

    def _backup_loop(self) -> None:
        """Every ``backup_tick_seconds``, the backup plans that are due get a job. Every API node looks;
        the plan's lock and its last job, read under that lock, make one of them run it."""
        while not self._stopping.wait(self.settings.backup_tick_seconds):
            try:
                with self.sm() as s:
                    due = self.registry.due_backups(s)
                for name in due:
                    try:
                        job = self.registry.run_backup(SYSTEM, name, scheduled=True)
                        log.info("scheduled backup", extra={"plan": name, "job_id": job.id})
                    except ApiError as exc:  # busy, or another node ran it a moment ago
                        log.info("scheduled backup skipped", extra={"plan": name, "reason": exc.detail})
            except Exception:
                log.exception("backup schedule failed")

    def _reconcile_loop(self) -> None:
        """The nodes job every ``reconcile_seconds``, by whichever API node finds the last one oldest:
        a node skips its turn when another ran it within the interval."""
        period = self.settings.reconcile_seconds
        while not self._stopping.wait(period):
            try:
                since = utcnow() - timedelta(seconds=period * 0.9)
                with self.sm() as s:
                    recent = s.scalar(
                        select(func.count())
                        .select_from(Job)
                        .where(Job.resource == NODES_KEY, Job.created_at >= since)
                    )
                if not recent:
                    self.registry.refresh_nodes(SYSTEM)
            except ApiError as exc:  # busy: another node's sweep runs
                log.info("reconciliation skipped", extra={"reason": exc.detail})
            except Exception:
                log.exception("reconciliation failed")

    def _refresh_nodes_once(self) -> None:
        """Read the compute nodes when none is known (a fresh cloud): the scheduler needs them. Another
        replica doing it at the same moment makes this one's request busy, which is fine."""
        with self.sm() as s:
            if s.scalar(select(func.count()).select_from(Node)):
                return
        try:
            job = self.registry.refresh_nodes(SYSTEM)
            log.info("reading the compute nodes", extra={"job_id": job.id})
        except ApiError as exc:
            log.info("compute nodes not read at start", extra={"reason": exc.detail})

    def stop(self) -> None:
        self._stopping.set()
        self.executor.shutdown()
        self.runtime.close()
        self.read_engine.dispose()

    def recover(self) -> None:
        """Jobs this node left starting/running are failed/interrupted; undelivered callbacks resent.

        With the Celery executor the workers own running jobs and their callbacks. Alarm notices are
        this node's (it stored the alarm) whatever the executor.
        """
        node = self.settings.node_name
        since = utcnow() - timedelta(hours=24)
        with self.sm() as s:
            notices = s.scalars(
                select(AlarmNotice.id).where(
                    AlarmNotice.node == node,
                    AlarmNotice.delivered.is_(False),
                    AlarmNotice.created_at >= since,
                    AlarmNotice.attempts < self.settings.callback_max_attempts,
                )
            ).all()
        for notice_id in notices:
            self.callbacks.dispatch_notice(notice_id)
        if self.settings.executor == "celery":
            return
        with self.sm.begin() as s:
            jobs = s.scalars(
                select(Job).where(Job.node == node, Job.status.in_((JobStatus.STARTING, JobStatus.RUNNING)))
            ).all()
            interrupted = []
            for job in jobs:
                job.status, job.reason, job.finished_at = JobStatus.FAILED, "interrupted", utcnow()
                interrupted.append((job.id, job.pid))
            pending = s.scalars(
                select(Job.id).where(
                    Job.node == node,
                    Job.status.in_(TERMINAL_STATUSES),
                    Job.callback_url.is_not(None),
                    Job.finished_at >= since,
                )
            ).all()
        for job_id, pid in interrupted:
            # Every process it started: Ansible's workers and their children outlive the API.
            if n := kill_job(job_id):
                log.warning(
                    "killed the processes of the interrupted job", extra={"job_id": job_id, "count": n}
                )
            if kill_orphan(pid):  # an ansible-playbook started before processes were marked
                log.warning("killed the orphaned ansible-playbook", extra={"job_id": job_id, "pid": pid})
            log.warning("job interrupted by an API restart", extra={"job_id": job_id})
            metrics.JOBS_FINISHED.labels(playbook="unknown", status=JobStatus.FAILED).inc()
        self.executor.clean_host()  # before a callback tells anyone the job ended
        for job_id in set(pending) | {job_id for job_id, _ in interrupted}:
            self.callbacks.dispatch(job_id)  # no-op for jobs whose callback was delivered

    # Jobs ----------------------------------------------------------------------------------------
    def validate(
        self, principal: Principal, req: JobCreate, header_callback: str | None, check_vars: bool = True
    ) -> tuple[Any, str | None]:
        entry = self.catalogue.get(req.playbook)
        if RANK[principal.role] < RANK[entry.role]:
            raise Forbidden(f"playbook {entry.name} needs the {entry.role} role", code="insufficient_role")
        if check_vars:
            if entry.resource:
                raise Invalid(
                    f"playbook {entry.name} converges a registry resource: use its route "
                    f"({entry.resource}), which records it",
                    code="resource_playbook",
                    errors=[
                        {"loc": ["body", "playbook"], "rule": "resource", "msg": f"use {entry.resource}"}
                    ],
                )
            validate_vars(entry, req.extra_vars)
        if req.limit is not None:
            self.inventory.check_limit(req.limit)
        callback = req.callback_url
        if header_callback is not None:
            if callback is not None and callback != header_callback:
                raise Invalid(
                    "X-Callback-URL and callback_url disagree",
                    errors=[
                        {
                            "loc": ["header", "X-Callback-URL"],
                            "rule": "conflict",
                            "msg": "give the callback URL once",
                        }
                    ],
                )
            callback = header_callback
        if callback is not None:
            loc = ["body", "callback_url"] if req.callback_url is not None else ["header", "X-Callback-URL"]
            check_callback_url(callback, self.settings, loc)
        return entry, callback

    def submit(
        self,
        principal: Principal,
        req: JobCreate,
        *,
        header_callback: str | None = None,
        idempotency_key: str | None = None,
        path: str = "/v1/jobs",
        method: str = "POST",
        resource: str | None = None,
        prepare: Callable[[Session, Job], None] | None = None,
        fingerprint_body: dict[str, Any] | None = None,
    ) -> tuple[JobPublic, bool]:
        """Create a job (or find the one an Idempotency-Key already made). Returns (job, replayed).

        ``prepare`` (the registry's): called in the transaction that inserts the job, before the
        insert; it checks and records the resource and sets the job's variables and limit (it
        validates them against the catalogue itself). An error it raises leaves nothing behind.
        """
        entry, callback = self.validate(principal, req, header_callback, check_vars=prepare is None)
        body = req.model_dump(mode="json") if fingerprint_body is None else {"spec": fingerprint_body}
        body["callback_url"] = callback
        claimed = None
        if idempotency_key is not None:
            replay, claimed = self._claim_key(principal, idempotency_key, fingerprint(method, path, body))
            if replay is not None:
                return replay, True
        slot = False
        try:
            slot = self._take_queue_slot()  # 503 queue_full: no row written, the key released below
            with self.sm.begin() as s:
                job = Job(
                    id=new_id(),
                    playbook=entry.name,
                    extra_vars=dict(req.extra_vars),
                    secret_vars=sorted(entry.secret_vars),
                    limit=req.limit,
                    check=req.check,
                    diff=req.diff,
                    callback_url=callback,
                    owner_key_id=principal.key_id,
                    node=self.settings.node_name,
                    resource=resource,
                )
                if prepare is not None:
                    prepare(s, job)
                s.add(job)
                s.flush()
                if claimed is not None:
                    s.execute(
                        update(IdempotencyKey).where(IdempotencyKey.id == claimed).values(job_id=job.id)
                    )
                out = job_public(job)
        except Exception:
            if slot:
                self._release_queue_slot()
            if claimed is not None:
                with self.sm.begin() as s:
                    s.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claimed))
            raise
        metrics.JOBS_SUBMITTED.labels(playbook=entry.name).inc()
        try:
            self.executor.submit(out.id)
        except Exception as exc:  # the broker refused or is unreachable: the job must not hang queued
            log.exception("job not enqueued", extra={"job_id": out.id})
            with self.sm.begin() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == out.id, Job.status == JobStatus.QUEUED)
                    .values(status=JobStatus.FAILED, reason="broker_unavailable", finished_at=utcnow())
                )
            self.callbacks.dispatch(out.id)
            raise ServiceUnavailable(
                f"the job broker is unavailable ({type(exc).__name__}); job {out.id} failed",
                code="broker_unavailable",
                headers={"Retry-After": "5"},
            ) from None
        finally:
            self._release_queue_slot()  # the job is in the executor's queue now (or failed)
        log.info("job accepted", extra={"job_id": out.id, "playbook": entry.name, "key_id": principal.key_id})
        return out, False

    def _take_queue_slot(self) -> bool:
        """Admit one more job to the executor's queue, or raise 503 ``queue_full`` (with Retry-After)
        when ``max_queued_jobs`` already wait. Submissions between this check and executor.submit
        are counted too, so concurrent requests cannot overshoot the bound."""
        with self._queue_lock:
            waiting = self.executor.stats()["queued"] + self._admitting
            bound = self.settings.max_queued_jobs
            if waiting >= bound:
                metrics.JOBS_REFUSED.labels(reason="queue_full").inc()
                raise ServiceUnavailable(
                    f"{waiting} jobs already wait for an executor slot; at most {bound} (max_queued_jobs)",
                    code="queue_full",
                    headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER)},
                )
            self._admitting += 1
        return True

    def _release_queue_slot(self) -> None:
        with self._queue_lock:
            self._admitting -= 1

    def _claim_key(self, principal: Principal, key: str, fp: str) -> tuple[JobPublic | None, int | None]:
        now = utcnow()
        for _ in range(5):
            try:
                with self.sm.begin() as s:
                    s.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < now))
                    row = s.scalars(
                        select(IdempotencyKey).where(
                            IdempotencyKey.api_key_id == principal.key_id, IdempotencyKey.key == key
                        )
                    ).first()
                    if row is None:
                        row = IdempotencyKey(
                            api_key_id=principal.key_id,
                            key=key,
                            fingerprint=fp,
                            created_at=now,
                            expires_at=now + timedelta(hours=self.settings.idempotency_ttl_hours),
                        )
                        s.add(row)
                        s.flush()
                        return None, row.id
                    if row.fingerprint != fp:
                        raise Invalid(
                            "this Idempotency-Key was used with another request body",
                            code="idempotency_key_reused",
                            errors=[
                                {
                                    "loc": ["header", "Idempotency-Key"],
                                    "rule": "reuse",
                                    "msg": "same key, different request",
                                }
                            ],
                        )
                    if row.job_id is None:
                        stale = now - timedelta(seconds=self.settings.idempotency_stale_seconds)
                        if row.created_at < stale:  # its creator died mid-request: take it over
                            row.created_at = now
                            return None, row.id
                        raise Conflict(
                            "a request with this Idempotency-Key is still being processed",
                            code="idempotency_in_progress",
                            headers={"Retry-After": "1"},
                        )
                    job = s.get(Job, row.job_id)
                    if job is None:
                        s.delete(row)
                        continue
                    return job_public(job), None
            except IntegrityError:
                continue  # a concurrent request inserted the key first: read it again
        raise Conflict(
            "a request with this Idempotency-Key is still being processed",
            code="idempotency_in_progress",
            headers={"Retry-After": "1"},
        )

    def get_job(self, s: Session, job_id: str) -> Job:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist", code="job_not_found")
        return job

    def cancel(self, job_id: str) -> JobPublic:
        with self.sm.begin() as s:
            job = self.get_job(s, job_id)
            if job.status in TERMINAL_STATUSES:
                raise Conflict(f"job {job_id} already ended with status {job.status}", code="job_finished")
            if job.status == JobStatus.QUEUED:
                job.status, job.reason, job.finished_at = JobStatus.CANCELED, "canceled", utcnow()
                job.cancel_requested = True
                apply_job_result(s, job, JobStatus.CANCELED, None, None)
                terminal = True
            else:
                job.cancel_requested = True
                terminal = False
        if terminal:
            metrics.JOBS_FINISHED.labels(playbook=job.playbook, status=JobStatus.CANCELED).inc()
            self.callbacks.dispatch(job_id)
        else:
            self.executor.request_cancel(job_id)
        with self.sm() as s:
            return job_public(self.get_job(s, job_id))

    def list_jobs(self, status: str | None, playbook: str | None, offset: int, limit: int):
        with self.sm_read() as s:
            q = select(Job)
            cq = select(func.count()).select_from(Job)
            if status:
                q, cq = q.where(Job.status == status), cq.where(Job.status == status)
            if playbook:
                q, cq = q.where(Job.playbook == playbook), cq.where(Job.playbook == playbook)
            total = s.scalar(cq) or 0
            jobs = s.scalars(q.order_by(Job.created_at.desc(), Job.id).offset(offset).limit(limit)).all()
            return [job_public(j) for j in jobs], total

    def active_count(self) -> int:
        with self.sm() as s:
            return s.scalar(select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE_STATUSES))) or 0
