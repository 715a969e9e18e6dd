"""Job execution: one interface, and the in-process executor over ansible-runner.

The in-process executor runs at most ``max_concurrent_jobs`` playbooks at once on worker threads;
further jobs wait in a FIFO queue with status ``queued``. Each job gets its own private data dir
(mode 0700, removed afterwards), an environment built from an allow-list (never the API's own), an
explicit cancel callback and the job timeout; when it ends, however it ends, every process it
started on this host is killed (see :mod:`.jobprocs`).
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ansible_runner.interface import init_runner
from ansible_runner.utils import get_callback_dir
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import metrics
from .catalogue import Catalogue
from .extravars import write_extravars
from .jobprocs import kill_job, kill_orphans, marker_env
from .models import ACTIVE_STATUSES, Job, JobEvent, utcnow
from .redact import redact_event, secret_values
from .settings import Settings

log = logging.getLogger("scloud_api.executor")
# The keys of ansible-runner's ``Runner.stats``, read from the playbook_on_stats event.
_STATS_KEYS = ("skipped", "ok", "dark", "failures", "ignored", "rescued", "processed", "changed")


def runner_env(settings: Settings) -> dict[str, str]:
    root = settings.collection_root
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        path = bin_dir + os.pathsep + path
    return {
        "PATH": path,
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(root / "collections"),
        "ANSIBLE_ROLES_PATH": str(root / "roles"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }


# What a job may see of the API's environment: what Ansible, ssh and Python need (the search path, the
# home with ~/.ssh, the locale, the temp dir, an ssh agent), nothing else. The API's settings and
# secrets (SCLOUD_API_WEBHOOK_SECRET, SCLOUD_API_DATABASE_URL, a broker URL with its password),
# proxies with credentials and whatever else the service manager put there stay out: ansible-runner
# would copy all of os.environ, where ``lookup('env', ...)`` or a module's output could show it.
_ENV_ALLOWED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SSH_AUTH_SOCK"}
)
# What ansible-runner adds to the environment it prepares (its event callback, artifact dir, fact
# cache): kept. Its ANSIBLE_CALLBACK_PLUGINS is rebuilt, as it appends to the API's own value.
_RUNNER_ENV = (
    "ANSIBLE_STDOUT_CALLBACK",
    "AWX_ISOLATED_DATA_DIR",
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "ANSIBLE_RETRY_FILES_ENABLED",
    "ANSIBLE_HOST_KEY_CHECKING",
)
# ssh binds its ControlPath socket (at most 108 bytes) as <dir>/<10-char hash>.<16 random chars>.
_CONTROL_DIR_MAX = 108 - 1 - 10 - 17 - 1


def control_path_dir(pdd: Path) -> Path:
    """The job's own ssh ControlPersist directory: the sweep at the end of a job kills its ssh
    masters, so they must never be shared with another job (ansible's default ~/.ansible/cp is)."""
    cp = pdd / "cp"
    if len(os.fsencode(cp)) <= _CONTROL_DIR_MAX:
        return cp
    return Path(tempfile.mkdtemp(prefix="scloud-cp-"))  # a deep state dir: a short private one


def ansible_env(settings: Settings) -> dict[str, str]:
    """What any Ansible command the API starts sees: the allowed part of the API's environment and
    the API's Ansible settings (a job's ansible-playbook, the inventory read by ``ansible-inventory``)."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_ALLOWED or k.startswith("LC_")}
    env.update(runner_env(settings))
    return env


def job_env(settings: Settings, job_id: str, attempt: int, pdd: Path, control_dir: Path) -> dict[str, str]:
    """The whole environment of a job's ansible-playbook (ansible-runner adds its own keys)."""
    env = ansible_env(settings)
    env["ANSIBLE_LOCAL_TEMP"] = str(pdd / "tmp")  # module payloads with their arguments: job data
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    env.update(marker_env(job_id, attempt, pdd))
    return env


def confine_env(prepared: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """``wanted`` plus only the keys ansible-runner itself set in ``prepared`` (which it seeded with
    a copy of os.environ)."""
    env = dict(wanted)
    env.update({k: prepared[k] for k in _RUNNER_ENV if k in prepared})
    env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join(
        filter(None, (wanted.get("ANSIBLE_CALLBACK_PLUGINS"), get_callback_dir()))
    )
    return env


def remove_job_data(pdd: Path, keep: bool = False) -> None:
    """The private data dir goes when its job ends; with ``keep`` (debugging) all but ``env/``,
    where the runner keeps the extra vars, the environment, passwords and ssh key of the job."""
    shutil.rmtree(pdd / "env" if keep else pdd, ignore_errors=True)


def sweep_jobs_dir(jobs_dir: Path, active: set[str], keep: bool = False) -> list[str]:
    """Remove the data of every job under ``jobs_dir`` that is not ``active`` (left by a crash).
    Returns the names removed."""
    removed = []
    try:
        entries = list(jobs_dir.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if entry.name in active:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if keep and not (entry / "env").exists():
                continue
            remove_job_data(entry, keep)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _text(value: Any) -> str | None:
    """PostgreSQL text cannot hold NUL characters; a command's output can."""
    return None if value is None else str(value).replace("\x00", "\ufffd")


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


class Executor(ABC):
    """What the API needs from whatever runs jobs (in-process today; Celery workers later)."""

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


def _process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def kill_orphan(pid: int | None) -> bool:
    """Kill the process group of an ansible-playbook left behind by a dead API process."""
    if not pid or not _process_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"ansible" not in cmdline:
        return False  # the pid was reused by something else: leave it alone
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


class InProcessExecutor(Executor):
    def __init__(
        self,
        settings: Settings,
        sm: sessionmaker[Session],
        catalogue: Catalogue,
        on_terminal: Callable[[str], None],
        *,
        lease_seconds: float | None = None,
    ):
        """``lease_seconds``: renew the job's heartbeat while it runs (a third of the lease), and let
        ``execute(takeover=True)`` claim a job whose heartbeat is older than the lease."""
        self.settings = settings
        self.lease_seconds = lease_seconds
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
        """What jobs interrupted by a crash left on this host, once no job of this runner runs:
        the processes of jobs whose runner process is gone, and every private data dir (with its
        ``env/extravars``) of a job that is not active in the database."""
        if n := kill_orphans(self.settings.jobs_dir):
            log.warning("killed the processes of jobs whose runner died", extra={"count": n})
        jobs_dir = self.settings.jobs_dir
        try:
            names = [e.name for e in jobs_dir.iterdir()]
        except FileNotFoundError:
            return
        ids = [n for n in names if len(n) <= 36]
        with self.sm() as s:
            active = (
                set(s.scalars(select(Job.id).where(Job.id.in_(ids), Job.status.in_(ACTIVE_STATUSES))))
                if ids
                else set()
            )
        if removed := sweep_jobs_dir(jobs_dir, active, self.settings.keep_job_dirs):
            log.warning(
                "removed the data of ended jobs", extra={"jobs": removed[:100], "count": len(removed)}
            )

    # Work ----------------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            job_id = self.queue.get()
            metrics.JOBS_QUEUED.set(self.queue.qsize())
            if job_id is None or self._stopping.is_set():
                return
            self.execute(job_id)

    def execute(self, job_id: str, *, takeover: bool = False) -> str:
        """Claim and run one job here and now. Returns what happened:

        ``ran`` (it ended, in the database), ``lost`` (another runner took it over while it ran),
        ``terminal`` (it had already ended), ``busy`` (another runner holds a live lease),
        ``missing`` (no such job).
        """
        try:
            return self._run(job_id, takeover)
        except Exception as exc:  # a bug here must not kill the worker or leave the job running
            log.exception("job crashed in the executor", extra={"job_id": job_id})
            self._finish(job_id, "failed", reason=f"executor_error: {type(exc).__name__}: {exc}"[:200])
            return "ran"

    def _claim(self, job_id: str, takeover: bool = False) -> tuple[Job | None, str]:
        """Take the job row: ``UPDATE ... WHERE status='queued'`` (or, with ``takeover``, a job whose
        runner's lease expired), so two runners never both run one job."""
        now = utcnow()
        claimable = Job.status == "queued"
        if takeover and self.lease_seconds is not None:
            stale = now - timedelta(seconds=self.lease_seconds)
            claimable = or_(
                claimable,
                and_(
                    Job.status.in_(("starting", "running")),
                    or_(Job.heartbeat_at < stale, and_(Job.heartbeat_at.is_(None), Job.started_at < stale)),
                ),
            )
        with self.sm.begin() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, claimable)
                .values(
                    status="starting",
                    started_at=now,
                    node=self.settings.node_name,
                    attempts=Job.attempts + 1,
                    heartbeat_at=now,
                    pid=None,
                )
            )
            job = s.get(Job, job_id)
            if job is None:
                return None, "missing"
            if res.rowcount != 1:
                return None, "terminal" if job.status not in ("queued", "starting", "running") else "busy"
            return job, "claimed"

    def _run(self, job_id: str, takeover: bool = False) -> str:
        job, claim = self._claim(job_id, takeover)
        if job is None:
            return claim  # canceled while queued, or claimed by another node
        attempt = job.attempts
        if attempt > 1:
            log.warning(
                "job taken over from a runner whose lease expired",
                extra={"job_id": job_id, "attempt": attempt, "node": self.settings.node_name},
            )
            # The interrupted attempt may have left processes and data on this host.
            if n := kill_job(job_id):
                log.warning("killed the previous attempt's processes", extra={"job_id": job_id, "count": n})
            remove_job_data(self.settings.jobs_dir / job_id)
        entry = self.catalogue.entries().get(job.playbook)
        if entry is None:
            self._finish(job_id, "failed", reason="playbook_removed_from_catalogue", attempt=attempt)
            return "ran"
        flag = threading.Event()
        with self._lock:
            self.cancel_flags[job_id] = flag
            self.running.add(job_id)
        metrics.JOBS_RUNNING.inc()
        secrets = secret_values(job.extra_vars or {}, job.secret_vars or [])
        seq = 0
        if attempt > 1:  # the events of the interrupted attempt stay; this attempt's follow them
            with self.sm() as s:
                seq = s.scalar(select(func.max(JobEvent.seq)).where(JobEvent.job_id == job_id)) or 0
            seq += 1
            with self.sm.begin() as s:
                s.add(
                    JobEvent(
                        job_id=job_id,
                        seq=seq,
                        event="executor_takeover",
                        stdout=f"attempt {attempt}: run again from the start on {self.settings.node_name}",
                        data={"attempt": attempt, "node": self.settings.node_name},
                    )
                )
        pid_seen = False
        final_stats: dict[str, Any] = {}
        last_db_check, last_heartbeat = 0.0, time.monotonic()
        lost, timed_out, killed = threading.Event(), threading.Event(), threading.Event()
        heartbeat_every = self.lease_seconds / 3 if self.lease_seconds is not None else None
        pdd = self.settings.jobs_dir / job_id
        pdd.mkdir(mode=0o700, parents=True, exist_ok=True)
        control_dir = control_path_dir(pdd)
        started = time.monotonic()

        def stop_processes() -> bool:
            """Every process of this attempt, SIGTERM then SIGKILL: ansible-runner's own cancel and
            timeout kill only ansible-playbook's process group, not the workers in their sessions."""
            if not killed.is_set():
                killed.set()
                kill_job(job_id, attempt)
            return True

        def event_handler(event: dict[str, Any]) -> bool:
            nonlocal seq, pid_seen
            seq += 1
            ev = redact_event(event, secrets)
            data = _no_nul(ev.get("event_data") or {})
            if ev.get("event") == "playbook_on_stats":
                final_stats.update({k: data.get(k) or {} for k in _STATS_KEYS})
            row = JobEvent(
                job_id=job_id,
                seq=seq,
                uuid=ev.get("uuid"),
                event=ev.get("event", "unknown"),
                host=_text(data.get("host")),
                task=_text(data.get("task")),
                stdout=_text(ev.get("stdout")),
                data=data,
            )
            try:
                with self.sm.begin() as s:
                    s.add(row)
                    if not pid_seen and ev.get("pid"):
                        s.execute(update(Job).where(Job.id == job_id).values(pid=int(ev["pid"])))
                        pid_seen = True
            except Exception:
                # Keep the job running and the sequence whole: store the event without its data.
                log.exception("event not stored in full", extra={"job_id": job_id, "seq": seq})
                with self.sm.begin() as s:
                    s.add(
                        JobEvent(
                            job_id=job_id,
                            seq=seq,
                            uuid=row.uuid,
                            event=row.event,
                            host=row.host,
                            task=row.task,
                            stdout=None,
                            data={"error": "event data could not be stored"},
                        )
                    )
            return False  # stored in the database; nothing to keep on disk

        def status_handler(data: dict[str, Any], runner_config=None) -> None:
            status = data.get("status")
            if status in ("starting", "running"):
                with self.sm.begin() as s:
                    s.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.status.in_(("starting", "running")))
                        .values(status=status)
                    )

        def cancel_callback() -> bool:
            nonlocal last_db_check, last_heartbeat
            if flag.is_set():
                return stop_processes()
            now = time.monotonic()
            if now - started > self.settings.job_timeout:  # here, not the runner's: it kills too little
                timed_out.set()
                return stop_processes()
            if heartbeat_every is not None and now - last_heartbeat >= heartbeat_every:
                last_heartbeat = now
                with self.sm.begin() as s:
                    res = s.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.attempts == attempt)
                        .values(heartbeat_at=utcnow())
                    )
                if res.rowcount != 1:  # our lease expired and another runner took the job over
                    log.error("job taken over by another runner: stopping", extra={"job_id": job_id})
                    lost.set()
                    flag.set()
                    return stop_processes()
            if now - last_db_check >= 1.0:  # a cancel may come through another API node
                last_db_check = now
                with self.sm() as s:
                    if s.scalar(select(Job.cancel_requested).where(Job.id == job_id)):
                        flag.set()
            return stop_processes() if flag.is_set() else False

        cmdline = []
        if job.check:
            cmdline.append("--check")
        if job.diff:
            cmdline.append("--diff")
        inventory = self.settings.inventory_path
        # Caller data is data: every string tagged !unsafe in env/extravars, never templated.
        write_extravars(pdd, job.extra_vars or {})
        env = job_env(self.settings, job_id, attempt, pdd, control_dir)
        kwargs: dict[str, Any] = dict(
            private_data_dir=str(pdd),
            playbook=str(entry.file),
            project_dir=str(entry.file.parent),
            limit=job.limit,
            cmdline=" ".join(cmdline) or None,
            envvars=env,
            quiet=True,
            ident="run",
            settings={"pexpect_timeout": 0.2, "suppress_ansible_output": True},
            event_handler=event_handler,
            status_handler=status_handler,
            cancel_callback=cancel_callback,
        )
        if inventory.exists():
            kwargs["inventory"] = str(inventory)
        try:
            runner = init_runner(**kwargs)
            runner.config.env = confine_env(runner.config.env, env)
            runner.run()  # on this worker thread: it only waits for ansible-playbook
            status, rc, stats = runner.status, runner.rc, final_stats
        finally:
            with self._lock:
                self.cancel_flags.pop(job_id, None)
                self.running.discard(job_id)
            metrics.JOBS_RUNNING.dec()
            try:
                # Whatever outlived ansible-playbook: workers after the runner's SIGKILL of its group,
                # the job's ssh masters, forgotten async tasks. None may outlive the job.
                if n := kill_job(job_id, attempt):
                    log.info("killed processes the job left", extra={"job_id": job_id, "count": n})
            finally:
                remove_job_data(pdd, self.settings.keep_job_dirs)
                if not control_dir.is_relative_to(pdd):
                    shutil.rmtree(control_dir, ignore_errors=True)
        if lost.is_set():
            return "lost"
        reason = None
        if status == "canceled" and timed_out.is_set():
            status = "timeout"
        if status == "canceled" and self._stopping.is_set():
            status, reason = "failed", "interrupted"
        elif status == "canceled":
            reason = "canceled"
        elif status == "timeout":
            reason = f"timeout after {self.settings.job_timeout}s"
        elif status == "failed":
            reason = (
                "unreachable"
                if any((stats.get("dark") or {}).values())
                else ("playbook_failed" if stats else f"runner_failed rc={rc}")
            )
        metrics.JOB_DURATION.labels(playbook=job.playbook).observe(time.monotonic() - started)
        self._finish(job_id, status, rc=rc, stats=stats, reason=reason, attempt=attempt)
        return "ran"

    def _finish(
        self,
        job_id: str,
        status: str,
        *,
        rc: int | None = None,
        stats: dict | None = None,
        reason: str | None = None,
        attempt: int | None = None,
    ) -> None:
        with self.sm.begin() as s:
            job = s.get(Job, job_id)
            if job is None or (attempt is not None and job.attempts != attempt):
                return  # gone, or taken over by another runner: that runner finishes it
            job.status, job.rc, job.reason, job.finished_at = status, rc, reason, utcnow()
            if stats is not None:
                job.stats = stats
            playbook = job.playbook
        metrics.JOBS_FINISHED.labels(playbook=playbook, status=status).inc()
        log.info("job finished", extra={"job_id": job_id, "status": status, "rc": rc, "reason": reason})
        self.on_terminal(job_id)
