"""One attempt of one job on this host (:class:`JobRun`): claim the job row, run its playbook
through ansible-runner, store its redacted events, renew its lease, stop it when canceled or timed
out, map the result to the job's status, finish it. The executors (:mod:`.executor`: a thread pool
in the API; :mod:`.celery_executor`: workers on the nodes) only decide where and when a run happens.

Each run gets its own private data dir (mode 0700, removed afterwards), an environment built from an
allow-list (never the API's own), an explicit cancel callback and the job timeout; when it ends,
however it ends, every process it started on this host is killed (see :mod:`.jobprocs`).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
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
from .models import ACTIVE_STATUSES, Job, JobEvent, JobStatus, utcnow
from .observe import apply_job_result
from .redact import redact_event, secret_values
from .settings import Settings

log = logging.getLogger("scloud_api.jobrun")
# The keys of ansible-runner's ``Runner.stats``, read from the playbook_on_stats event.
_STATS_KEYS = ("skipped", "ok", "dark", "failures", "ignored", "rescued", "processed", "changed")
_RUNNING = (JobStatus.STARTING, JobStatus.RUNNING)


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


def clean_host(settings: Settings, sm: sessionmaker[Session]) -> None:
    """What jobs interrupted by a crash left on this host, once no job of this host runs: the
    processes of jobs whose runner process is gone, and every private data dir (with its
    ``env/extravars``) of a job that is not active in the database."""
    if n := kill_orphans(settings.jobs_dir):
        log.warning("killed the processes of jobs whose runner died", extra={"count": n})
    jobs_dir = settings.jobs_dir
    try:
        names = [e.name for e in jobs_dir.iterdir()]
    except FileNotFoundError:
        return
    ids = [n for n in names if len(n) <= 36]
    with sm() as s:
        active = (
            set(s.scalars(select(Job.id).where(Job.id.in_(ids), Job.status.in_(ACTIVE_STATUSES))))
            if ids
            else set()
        )
    if removed := sweep_jobs_dir(jobs_dir, active, settings.keep_job_dirs):
        log.warning("removed the data of ended jobs", extra={"jobs": removed[:100], "count": len(removed)})


class JobRun:
    """One attempt of one job, here and now.

    ``lease_seconds``: renew the job's heartbeat while it runs (a third of the lease), and with
    ``takeover`` claim a job whose heartbeat is older than the lease (the Celery workers).
    ``cancel``: set by the executor to stop the run (a cancel request or a shutdown, ``stopping``);
    the run also polls ``jobs.cancel_requested``, so a cancel through any API node reaches it.
    ``on_terminal``: called with the job id once the job has ended (the API's callback dispatch).
    """

    def __init__(
        self,
        settings: Settings,
        sm: sessionmaker[Session],
        catalogue: Catalogue,
        job_id: str,
        *,
        lease_seconds: float | None = None,
        takeover: bool = False,
        cancel: threading.Event | None = None,
        stopping: threading.Event | None = None,
        on_terminal: Callable[[str], None] | None = None,
    ):
        self.settings = settings
        self.sm = sm
        self.catalogue = catalogue
        self.job_id = job_id
        self.lease_seconds = lease_seconds
        self.takeover = takeover
        self.cancel = cancel if cancel is not None else threading.Event()
        self.stopping = stopping if stopping is not None else threading.Event()
        self.on_terminal = on_terminal
        self.attempt: int | None = None
        # State of the running attempt, shared by the runner's callbacks.
        self.seq = 0
        self.pid_seen = False
        self.final_stats: dict[str, Any] = {}
        self.artifacts: dict[str, Any] = {}  # set_stats of the run (observe.py)
        self.secrets: list[str] = []
        self.env: dict[str, str] = {}
        self.lost, self.timed_out, self.killed = threading.Event(), threading.Event(), threading.Event()
        self.started = 0.0
        self.last_db_check = 0.0
        self.last_heartbeat = 0.0

    # The life of a run ----------------------------------------------------------------------------
    def execute(self) -> str:
        """Claim and run the job. Returns what happened:

        ``ran`` (it ended, in the database), ``lost`` (another runner took it over while it ran),
        ``terminal`` (it had already ended), ``busy`` (another runner holds a live lease),
        ``missing`` (no such job).
        """
        try:
            return self._execute()
        except Exception as exc:  # a bug here must not kill the worker or leave the job running
            log.exception("job crashed in the executor", extra={"job_id": self.job_id})
            self.finish(JobStatus.FAILED, reason=f"executor_error: {type(exc).__name__}: {exc}"[:200])
            return "ran"

    def claim(self) -> tuple[Job | None, str]:
        """Take the job row: ``UPDATE ... WHERE status='queued'`` (or, with ``takeover``, a job whose
        runner's lease expired), so two runners never both run one job."""
        now = utcnow()
        claimable = Job.status == JobStatus.QUEUED
        if self.takeover and self.lease_seconds is not None:
            stale = now - timedelta(seconds=self.lease_seconds)
            claimable = or_(
                claimable,
                and_(
                    Job.status.in_(_RUNNING),
                    or_(Job.heartbeat_at < stale, and_(Job.heartbeat_at.is_(None), Job.started_at < stale)),
                ),
            )
        with self.sm.begin() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == self.job_id, claimable)
                .values(
                    status=JobStatus.STARTING,
                    started_at=now,
                    node=self.settings.node_name,
                    attempts=Job.attempts + 1,
                    heartbeat_at=now,
                    pid=None,
                )
            )
            job = s.get(Job, self.job_id)
            if job is None:
                return None, "missing"
            if res.rowcount != 1:
                return None, "busy" if job.status in ACTIVE_STATUSES else "terminal"
            self.attempt = job.attempts
            return job, "claimed"

    def finish(
        self,
        status: JobStatus,
        *,
        rc: int | None = None,
        stats: dict | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the end of the job, unless another runner took it over (that runner finishes it)."""
        with self.sm.begin() as s:
            job = s.get(Job, self.job_id)
            if job is None or (self.attempt is not None and job.attempts != self.attempt):
                return
            job.status, job.rc, job.reason, job.finished_at = status, rc, reason, utcnow()
            if stats is not None:
                job.stats = stats
            apply_job_result(s, job, status, self.artifacts, stats)
            playbook = job.playbook
        metrics.JOBS_FINISHED.labels(playbook=playbook, status=str(status)).inc()
        log.info(
            "job finished",
            extra={"job_id": self.job_id, "status": str(status), "rc": rc, "reason": reason},
        )
        if self.on_terminal is not None:
            self.on_terminal(self.job_id)

    def _execute(self) -> str:
        job, claim = self.claim()
        if job is None:
            return claim  # canceled while queued, or claimed by another node
        if self.attempt > 1:
            self._take_over()
        entry = self.catalogue.entries().get(job.playbook)
        if entry is None:
            self.finish(JobStatus.FAILED, reason="playbook_removed_from_catalogue")
            return "ran"
        self.secrets = secret_values(job.extra_vars or {}, job.secret_vars or [])
        pdd = self.settings.jobs_dir / self.job_id
        pdd.mkdir(mode=0o700, parents=True, exist_ok=True)
        control_dir = control_path_dir(pdd)
        self.started = self.last_heartbeat = time.monotonic()
        try:
            runner = init_runner(**self._runner_kwargs(job, entry.file, pdd, control_dir))
            runner.config.env = confine_env(runner.config.env, self.env)
            runner.run()  # on this thread: it only waits for ansible-playbook
            status, rc, stats = runner.status, runner.rc, self.final_stats
        finally:
            try:
                # Whatever outlived ansible-playbook: workers after the runner's SIGKILL of its group,
                # the job's ssh masters, forgotten async tasks. None may outlive the job.
                if n := kill_job(self.job_id, self.attempt):
                    log.info("killed processes the job left", extra={"job_id": self.job_id, "count": n})
            finally:
                remove_job_data(pdd, self.settings.keep_job_dirs)
                if not control_dir.is_relative_to(pdd):
                    shutil.rmtree(control_dir, ignore_errors=True)
        if self.lost.is_set():
            return "lost"
        status, reason = self._outcome(status, rc, stats)
        metrics.JOB_DURATION.labels(playbook=job.playbook).observe(time.monotonic() - self.started)
        self.finish(status, rc=rc, stats=stats, reason=reason)
        return "ran"

    def _take_over(self) -> None:
        """A later attempt: what the interrupted one left on this host goes; its events stay and
        this attempt's follow them, after a marker event."""
        log.warning(
            "job taken over from a runner whose lease expired",
            extra={"job_id": self.job_id, "attempt": self.attempt, "node": self.settings.node_name},
        )
        if n := kill_job(self.job_id):
            log.warning("killed the previous attempt's processes", extra={"job_id": self.job_id, "count": n})
        remove_job_data(self.settings.jobs_dir / self.job_id)
        with self.sm() as s:
            last = s.scalar(select(func.max(JobEvent.seq)).where(JobEvent.job_id == self.job_id))
        self.seq = (last or 0) + 1
        with self.sm.begin() as s:
            s.add(
                JobEvent(
                    job_id=self.job_id,
                    seq=self.seq,
                    event="executor_takeover",
                    stdout=f"attempt {self.attempt}: run again from the start on {self.settings.node_name}",
                    data={"attempt": self.attempt, "node": self.settings.node_name},
                )
            )

    def _runner_kwargs(self, job: Job, playbook: Path, pdd: Path, control_dir: Path) -> dict[str, Any]:
        cmdline = (["--check"] if job.check else []) + (["--diff"] if job.diff else [])
        # Caller data is data: every string tagged !unsafe in env/extravars, never templated.
        write_extravars(pdd, job.extra_vars or {})
        self.env = job_env(self.settings, self.job_id, self.attempt, pdd, control_dir)
        kwargs: dict[str, Any] = dict(
            private_data_dir=str(pdd),
            playbook=str(playbook),
            project_dir=str(playbook.parent),
            limit=job.limit,
            cmdline=" ".join(cmdline) or None,
            envvars=self.env,
            quiet=True,
            ident="run",
            settings={"pexpect_timeout": 0.2, "suppress_ansible_output": True},
            event_handler=self._on_event,
            status_handler=self._on_status,
            cancel_callback=self._should_stop,
        )
        if self.settings.inventory_path.exists():
            kwargs["inventory"] = str(self.settings.inventory_path)
        return kwargs

    def _outcome(self, status: str, rc: int | None, stats: dict[str, Any]) -> tuple[JobStatus, str | None]:
        """The job's status and reason from the runner's status, rc and stats."""
        if status == "canceled" and self.timed_out.is_set():
            status = "timeout"
        if status == "canceled" and self.stopping.is_set():
            return JobStatus.FAILED, "interrupted"
        if status == "canceled":
            return JobStatus.CANCELED, "canceled"
        if status == "timeout":
            return JobStatus.TIMEOUT, f"timeout after {self.settings.job_timeout}s"
        if status == "failed":
            if any((stats.get("dark") or {}).values()):
                return JobStatus.FAILED, "unreachable"
            return JobStatus.FAILED, "playbook_failed" if stats else f"runner_failed rc={rc}"
        return JobStatus(status), None

    # ansible-runner's callbacks, on this thread -------------------------------------------------
    def _stop_processes(self) -> bool:
        """Every process of this attempt, SIGTERM then SIGKILL: ansible-runner's own cancel and
        timeout kill only ansible-playbook's process group, not the workers in their sessions."""
        if not self.killed.is_set():
            self.killed.set()
            kill_job(self.job_id, self.attempt)
        return True

    def _on_event(self, event: dict[str, Any]) -> bool:
        self.seq += 1
        ev = redact_event(event, self.secrets)
        data = _no_nul(ev.get("event_data") or {})
        if ev.get("event") == "playbook_on_stats":
            self.final_stats.update({k: data.get(k) or {} for k in _STATS_KEYS})
            if isinstance(data.get("artifact_data"), dict):
                self.artifacts = data["artifact_data"]
        row = JobEvent(
            job_id=self.job_id,
            seq=self.seq,
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
                if not self.pid_seen and ev.get("pid"):
                    s.execute(update(Job).where(Job.id == self.job_id).values(pid=int(ev["pid"])))
                    self.pid_seen = True
        except Exception:
            # Keep the job running and the sequence whole: store the event without its data.
            log.exception("event not stored in full", extra={"job_id": self.job_id, "seq": self.seq})
            with self.sm.begin() as s:
                s.add(
                    JobEvent(
                        job_id=self.job_id,
                        seq=self.seq,
                        uuid=row.uuid,
                        event=row.event,
                        host=row.host,
                        task=row.task,
                        stdout=None,
                        data={"error": "event data could not be stored"},
                    )
                )
        return False  # stored in the database; nothing to keep on disk

    def _on_status(self, data: dict[str, Any], runner_config=None) -> None:
        status = data.get("status")
        if status in _RUNNING:
            with self.sm.begin() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == self.job_id, Job.status.in_(_RUNNING))
                    .values(status=JobStatus(status))
                )

    def _should_stop(self) -> bool:
        if self.cancel.is_set():
            return self._stop_processes()
        now = time.monotonic()
        if now - self.started > self.settings.job_timeout:  # here, not the runner's: it kills too little
            self.timed_out.set()
            return self._stop_processes()
        if self.lease_seconds is not None and now - self.last_heartbeat >= self.lease_seconds / 3:
            self.last_heartbeat = now
            with self.sm.begin() as s:
                res = s.execute(
                    update(Job)
                    .where(Job.id == self.job_id, Job.attempts == self.attempt)
                    .values(heartbeat_at=utcnow())
                )
            if res.rowcount != 1:  # our lease expired and another runner took the job over
                log.error("job taken over by another runner: stopping", extra={"job_id": self.job_id})
                self.lost.set()
                self.cancel.set()
                return self._stop_processes()
        if now - self.last_db_check >= 1.0:  # a cancel may come through another API node
            self.last_db_check = now
            with self.sm() as s:
                if s.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                    self.cancel.set()
        return self._stop_processes() if self.cancel.is_set() else False
