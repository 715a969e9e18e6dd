"""The Celery executor (``SCLOUD_API_EXECUTOR=celery``): the API enqueues job ids on a broker
(RabbitMQ), ``scloud-api worker`` processes on any node run them with the same job run as the API's
own executor (:class:`.jobrun.JobRun`: ansible-runner, redacted events, cancel, timeout, lease)
against the shared database.

Delivery is at least once and execution at most once per lease:

- the API publishes with publisher confirms (``submit`` returns once the broker has the message);
- workers acknowledge a message only after the job ended and its callback was delivered
  (``acks_late``) and take one message per free slot (prefetch 1), so a worker that dies loses
  nothing: the broker gives its unacknowledged messages to another worker;
- a worker claims the job row with ``UPDATE ... WHERE status='queued'``: a duplicate message is a
  no-op. While a job runs its worker renews ``heartbeat_at``; a redelivered message for a job whose
  heartbeat is older than ``job_lease_seconds`` takes it over (``attempts`` + 1, the playbook runs
  again from the start), one with a live heartbeat is retried later.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.exceptions import Retry
from sqlalchemy import func, select

from .executor import Executor
from .jobrun import JobRun, clean_host
from .models import ACTIVE_STATUSES, Job, JobStatus
from .runtime import Runtime
from .settings import Settings

log = logging.getLogger("scloud_api.celery")
TASK = "scloud_api.run_job"


def make_celery(settings: Settings) -> Celery:
    if settings.broker_url is None:
        raise ValueError("SCLOUD_API_BROKER_URL is required when SCLOUD_API_EXECUTOR is celery")
    app = Celery("scloud_api", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url.get_secret_value(),
        broker_connection_retry_on_startup=True,
        broker_heartbeat=10,  # notice a dead peer (node lost, not just a process) within ~20 s
        broker_transport_options={"confirm_publish": True},
        task_default_queue=settings.celery_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_concurrency=settings.max_concurrent_jobs,
        worker_pool="threads",
        worker_send_task_events=False,
        # Broker connection lost: the running jobs go on (their messages are redelivered, and the
        # worker that receives one sees a live lease and waits for the job to end).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        enable_utc=True,
    )
    return app


class CeleryExecutor(Executor):
    """The API side: publish job ids; the database is the state, workers do the work."""

    def __init__(self, settings: Settings, sm):
        self.settings = settings
        self.sm = sm
        self.app = make_celery(settings)

    def start(self) -> None:
        pass  # the connection is made at the first publish, and re-made when it broke

    def submit(self, job_id: str) -> None:
        self.app.send_task(TASK, args=[job_id], queue=self.settings.celery_queue, retry=True)

    def request_cancel(self, job_id: str) -> None:
        pass  # the worker reads jobs.cancel_requested every second

    def stats(self) -> dict[str, int]:
        with self.sm() as s:
            rows = dict(
                s.execute(
                    select(Job.status, func.count())
                    .where(Job.status.in_(ACTIVE_STATUSES))
                    .group_by(Job.status)
                ).all()
            )
        return {
            "running": rows.get(JobStatus.STARTING, 0) + rows.get(JobStatus.RUNNING, 0),
            "queued": rows.get(JobStatus.QUEUED, 0),
            "capacity": 0,  # the workers' slots; not known to the API
        }

    def shutdown(self) -> None:
        self.app.close()


class Worker:
    """The worker side: what one ``scloud-api worker`` process holds."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.runtime = Runtime(settings)
        self.runtime.migrate()
        self.sm, self.catalogue, self.callbacks = (
            self.runtime.sm,
            self.runtime.catalogue,
            self.runtime.callbacks,
        )
        settings.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.app = make_celery(settings)
        worker = self

        @self.app.task(name=TASK, bind=True, acks_late=True, max_retries=None)
        def run_job(task: Any, job_id: str) -> str:
            try:
                return worker.handle(task, job_id)
            except Retry:
                raise
            except Exception as exc:  # e.g. the database is unreachable: keep the job, try later
                log.exception("job message not handled; retried", extra={"job_id": job_id})
                raise task.retry(exc=exc, countdown=5) from None

    def handle(self, task: Any, job_id: str) -> str:
        redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
        # The callback is delivered below, before the message is acknowledged: no on_terminal.
        run = JobRun(
            self.settings,
            self.sm,
            self.catalogue,
            job_id,
            lease_seconds=self.settings.job_lease_seconds,
            takeover=True,
        )
        outcome = run.execute()
        log.info(
            "job message handled",
            extra={"job_id": job_id, "outcome": outcome, "redelivered": redelivered},
        )
        if outcome == "busy":
            # Another worker holds a live lease (this is a duplicate, or the owner died less than a
            # lease ago): look again later; the job is not acknowledged until it has ended.
            raise task.retry(countdown=max(1.0, self.settings.job_lease_seconds / 3))
        if outcome == "ran" or (outcome == "terminal" and redelivered):
            # A redelivered message for an ended job: its worker may have died before the callback.
            self.callbacks.deliver(job_id)  # idempotent: nothing is sent twice once delivered
        return outcome

    def run(self, hostname: str | None = None, loglevel: str = "INFO") -> None:
        # A worker that died left its jobs' processes and data dirs: its messages go to other
        # workers (which take the jobs over), not what ran here.
        clean_host(self.settings, self.sm)
        argv = [
            "worker",
            f"--hostname={hostname or 'scloud@' + self.settings.node_name}",
            f"--queues={self.settings.celery_queue}",
            f"--concurrency={self.settings.max_concurrent_jobs}",
            "--pool=threads",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
        try:
            self.app.worker_main(argv)
        finally:
            self.runtime.close()
