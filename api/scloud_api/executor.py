"""Where and when jobs run: one interface, the executors, and the factory that picks one.

A job's run itself (claim, events, lease, cancel, result) is :class:`.jobrun.JobRun`, the same for
every executor. ``local`` (:class:`InProcessExecutor`): at most ``max_concurrent_jobs`` runs at once
on worker threads of the API process, further jobs wait in a FIFO queue with status ``queued``.
``celery`` (:class:`.celery_executor.CeleryExecutor`): job ids go to a broker, workers on the nodes
run them.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from . import metrics
from .catalogue import Catalogue
from .jobrun import JobRun, clean_host
from .settings import Settings

log = logging.getLogger("scloud_api.executor")


class Executor(ABC):
    """What the API needs from whatever runs jobs."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def submit(self, job_id: str) -> None: ...

    @abstractmethod
    def request_cancel(self, job_id: str) -> None: ...

    @abstractmethod
    def stats(self) -> dict[str, int]: ...

    @abstractmethod
    def shutdown(self) -> None: ...

    def clean_host(self) -> None:  # noqa: B027 - nothing to clean where jobs do not run
        """What jobs interrupted by a crash left on this host (only where this executor runs them)."""


def make_executor(
    settings: Settings,
    sm: sessionmaker[Session],
    catalogue: Catalogue,
    on_terminal: Callable[[str], None],
) -> Executor:
    """The executor ``settings.executor`` names (``local`` or ``celery``)."""
    if settings.executor == "celery":
        from .celery_executor import CeleryExecutor  # Celery is imported only when used

        return CeleryExecutor(settings, sm)
    return InProcessExecutor(settings, sm, catalogue, on_terminal)


class InProcessExecutor(Executor):
    def __init__(
        self,
        settings: Settings,
        sm: sessionmaker[Session],
        catalogue: Catalogue,
        on_terminal: Callable[[str], None],
    ):
        self.settings = settings
        self.sm = sm
        self.catalogue = catalogue
        self.on_terminal = on_terminal
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.cancel_flags: dict[str, threading.Event] = {}
        self.running: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.workers: list[threading.Thread] = []

    # Interface -----------------------------------------------------------------------------------
    def start(self) -> None:
        self.settings.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for i in range(self.settings.max_concurrent_jobs):
            t = threading.Thread(target=self._worker, name=f"job-worker-{i}", daemon=True)
            t.start()
            self.workers.append(t)

    def submit(self, job_id: str) -> None:
        self.queue.put(job_id)
        metrics.JOBS_QUEUED.set(self.queue.qsize())

    def request_cancel(self, job_id: str) -> None:
        with self._lock:
            flag = self.cancel_flags.get(job_id)
        if flag is not None:
            flag.set()

    def stats(self) -> dict[str, int]:
        with self._lock:
            running = len(self.running)
        return {
            "running": running,
            "queued": self.queue.qsize(),
            "capacity": self.settings.max_concurrent_jobs,
        }

    def shutdown(self) -> None:
        """Stop taking jobs; running ones are stopped and recorded failed/interrupted."""
        self._stopping.set()
        with self._lock:
            for flag in self.cancel_flags.values():
                flag.set()
        for _ in self.workers:
            self.queue.put(None)
        for t in self.workers:
            t.join(timeout=30)

    def clean_host(self) -> None:
        clean_host(self.settings, self.sm)

    # Work ----------------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            job_id = self.queue.get()
            metrics.JOBS_QUEUED.set(self.queue.qsize())
            if job_id is None or self._stopping.is_set():
                return
            self.execute(job_id)

    def execute(self, job_id: str) -> str:
        """Run one job on this thread (see :meth:`.JobRun.execute` for what it returns)."""
        flag = threading.Event()
        with self._lock:
            self.cancel_flags[job_id] = flag
            self.running.add(job_id)
        metrics.JOBS_RUNNING.inc()
        try:
            run = JobRun(
                self.settings,
                self.sm,
                self.catalogue,
                job_id,
                cancel=flag,
                stopping=self._stopping,
                on_terminal=self.on_terminal,
            )
            return run.execute()
        finally:
            with self._lock:
                self.cancel_flags.pop(job_id, None)
                self.running.discard(job_id)
            metrics.JOBS_RUNNING.dec()
