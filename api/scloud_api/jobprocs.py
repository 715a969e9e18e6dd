"""Find and kill every process a job started on this host, also after the API that started it died.

Why an environment marker: ansible-playbook runs in its own session (pexpect), and ansible-core 2.19
starts each per-host worker in a session of its own (``os.setsid``), so the ``command`` module's
children (``sleep``) are in no process group the runner knows; when a worker's parent dies they are
re-parented to init, so a walk of the process tree from ansible-playbook misses them too. Every
process of a job instead carries ``SCLOUD_JOB_ID=<job id>`` in its environment: set by the executor,
inherited by every descendant through fork and exec, readable in ``/proc/<pid>/environ`` by the
same user (or root), and still there after a restart of the API, whose new process finds the
processes of the jobs it marks interrupted without any state of the old one. Descendants of a
marked process are the job's too (``sudo`` resets the environment of what it runs). The attempt,
the runner process and the data dir are marked too (see below).

Why not a cgroup: creating one needs root or a delegated subtree (systemd ``Delegate=yes``); the
API runs unprivileged on plain Debian hosts and as a systemd service whose cgroup belongs to
systemd, and this machine's hierarchy is hybrid. Under systemd, ``KillMode=control-group`` still
kills everything when the unit stops; the marker covers a cancel, a timeout and a restart.

Only processes whose marker names the job (and their descendants) are signalled: never the API
process or its ancestors, never another job's. Signals go through a pidfd opened before the
process is checked, so a pid reused meanwhile is never hit.

Limits: a process that both clears its environment and leaves its parent (double fork) escapes;
processes of another user (``become``) cannot be signalled by an unprivileged API anyway.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("scloud_api.jobprocs")

MARK = "SCLOUD_JOB_ID"
# The attempt (a job taken over runs again): a runner that lost its job kills its attempt only.
ATTEMPT = "SCLOUD_JOB_ATTEMPT"
# The process (pid:start time) that runs the job: its orphans are found once it is gone.
RUNNER = "SCLOUD_JOB_RUNNER"
# The job's private data dir: whose jobs they are (another installation on the host has its own).
DIR = "SCLOUD_JOB_DIR"
_PROC = "/proc"


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the pid, names one process for ever
    zombie: bool
    job: str | None = None
    attempt: str | None = None
    runner: str | None = None
    dir: str | None = None


def _stat(pid: int) -> tuple[int, int, bool] | None:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19]), fields[0] == b"Z"


def _marks(pid: int) -> dict[str, str]:
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as fh:
            data = fh.read()
    except OSError:  # gone, or another user's process (which this user cannot signal either)
        return {}
    if b"SCLOUD_JOB_" not in data:
        return {}
    fields = {
        MARK.encode(): "job",
        ATTEMPT.encode(): "attempt",
        RUNNER.encode(): "runner",
        DIR.encode(): "dir",
    }
    marks = {}
    for item in data.split(b"\0"):
        if item.startswith(b"SCLOUD_JOB_"):
            name, _, value = item.partition(b"=")
            if name in fields:
                marks[fields[name]] = value.decode(errors="replace")
    return marks


def _snapshot() -> dict[int, _Proc]:
    procs = {}
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = _stat(pid)
        if st is None:
            continue
        procs[pid] = _Proc(pid, st[0], st[1], st[2], **({} if st[2] else _marks(pid)))
    return procs


def _protected() -> set[int]:
    """This process and its ancestors: never signalled, whatever their environment says."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        st = _stat(pid)
        if st is None:
            break
        pid = st[0]
    return pids | {1}


def runner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    st = _stat(pid)
    return f"{pid}:{st[1] if st else 0}"


def _runner_alive(token: str) -> bool:
    pid, _, start = token.partition(":")
    try:
        st = _stat(int(pid))
        return st is not None and not st[2] and st[1] == int(start)
    except ValueError:
        return False


def marker_env(job_id: str, attempt: int, pdd: Path) -> dict[str, str]:
    """The variables that tag every process of the job (see the module docstring)."""
    return {MARK: job_id, ATTEMPT: str(attempt), RUNNER: runner_token(), DIR: str(pdd)}


def _select(procs: dict[int, _Proc], marked: Iterable[int]) -> dict[int, _Proc]:
    """The marked processes and all their descendants, minus zombies and protected processes."""
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found, todo = set(), list(marked)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    keep = found - _protected()
    return {pid: procs[pid] for pid in keep if not procs[pid].zombie}


def job_processes(job_id: str, attempt: int | None = None) -> dict[int, _Proc]:
    """The job's processes on this host (of one attempt, or of all)."""
    procs = _snapshot()
    want = None if attempt is None else str(attempt)
    return _select(procs, (p.pid for p in procs.values() if p.job == job_id and want in (None, p.attempt)))


def _signal_all(procs: dict[int, _Proc], sig: int) -> int:
    sent = 0
    for p in procs.values():
        try:
            fd = os.pidfd_open(p.pid)
        except ProcessLookupError:
            continue
        except OSError:  # no pidfd (kernel < 5.3): the start time check below still holds
            fd = None
        try:
            st = _stat(p.pid)
            if st is None or st[1] != p.start:
                continue  # exited and the pid was reused: not ours
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(p.pid, sig)
            sent += 1
        except (ProcessLookupError, PermissionError):
            pass
        finally:
            if fd is not None:
                os.close(fd)
    return sent


def _kill(find, what: str, grace: float) -> int:
    """SIGTERM, wait up to ``grace`` seconds (signalling processes started meanwhile), then SIGKILL
    until none is left. Returns how many processes were signalled."""
    procs = find()
    if not procs:
        return 0
    seen = set(procs)
    _signal_all(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while procs and time.monotonic() < deadline:
        time.sleep(0.05)
        procs = find()
        new = {pid: p for pid, p in procs.items() if pid not in seen}
        _signal_all(new, signal.SIGTERM)
        seen |= set(new)
    for _ in range(100):  # a fork bomb could outrun one SIGKILL pass
        if not procs:
            break
        _signal_all(procs, signal.SIGKILL)
        seen |= set(procs)
        time.sleep(0.02)
        procs = find()
    if procs:
        log.error("processes survived SIGKILL", extra={"what": what, "pids": sorted(procs)})
    return len(seen)


def kill_job(job_id: str, attempt: int | None = None, grace: float = 2.0) -> int:
    """Kill every process of the job (or of one attempt) on this host: SIGTERM, then SIGKILL after
    ``grace`` seconds. Returns how many processes were signalled."""
    return _kill(lambda: job_processes(job_id, attempt), job_id, grace)


def kill_orphans(jobs_dir: Path, grace: float = 2.0) -> int:
    """Kill the processes of the jobs under ``jobs_dir`` whose runner (an API or worker process) is
    gone: jobs interrupted by a crash, which another runner may have taken over since."""
    home = str(jobs_dir)

    def find() -> dict[int, _Proc]:
        procs = _snapshot()
        marked = [
            p.pid
            for p in procs.values()
            if p.job
            and p.dir
            and os.path.dirname(p.dir) == home
            and not (p.runner and _runner_alive(p.runner))
        ]
        return _select(procs, marked)

    return _kill(find, "orphans", grace)
