"""The ``libvirt_host`` session fixture: real ``virtlogd`` + ``libvirtd`` serving ``qemu:///system``.

The machine has no systemd, so the daemons are started directly (``--daemon`` with pid files) and
stopped at the end of the session. ``/dev/kvm`` is made usable by QEMU (group ``kvm``, mode 0660,
the Debian packaging rule udev would apply); when QEMU's user still cannot open it, domains fall
back to TCG (``virt_type == "qemu"``).

If a libvirtd already answers on ``/run/libvirt/libvirt-sock`` (another test session on the
machine, or an operator's daemon) it is reused and left running; a session only stops daemons it
started itself, and only when no other live session registered as a user of them.

Test domains must be named with :data:`TEST_PREFIX`; whatever is left of them (and of test
secrets) is destroyed and undefined at the end of the last session using the daemon.
"""

from __future__ import annotations

import fcntl
import grp
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["libvirt_host", "LibvirtHost", "TEST_PREFIX", "kvm_usable"]

URI = "qemu:///system"
TEST_PREFIX = "scloudt-"
STATE_DIR = Path("/run/scloud-test-libvirt")
LOG_DIR = Path("/var/log/libvirt")
SOCKET = Path("/run/libvirt/libvirt-sock")
QEMU_USER = "libvirt-qemu"
KVM_GROUP = "kvm"
KVM_DEVICE = Path("/dev/kvm")
# KVM_GET_API_VERSION = _IO(0xAE, 0x00); a usable /dev/kvm answers 12.
_KVM_PROBE = (
    "import fcntl, os\nfd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)\nprint(fcntl.ioctl(fd, 0xAE00))\n"
)


@dataclass
class LibvirtHost:
    """What tests get: the URI, the domain type to use and a ``virsh`` runner."""

    uri: str
    virt_type: str
    start_seconds: float
    started_here: bool
    log_file: Path
    pids: dict = field(default_factory=dict)

    def virsh(self, *args, check=True, timeout=120):
        """Run ``virsh -c <uri> <args>`` (argv list) and return its stdout."""
        proc = subprocess.run(
            ["virsh", "-q", "-c", self.uri, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
        return proc.stdout

    def domains(self):
        """Names of every defined domain, running or not."""
        return [n for n in self.virsh("list", "--all", "--name").split() if n]

    def cleanup_test_objects(self):
        """Destroy and undefine test domains, undefine test secrets (names with TEST_PREFIX)."""
        for name in self.domains():
            if not name.startswith(TEST_PREFIX):
                continue
            self.virsh("destroy", name, check=False)
            self.virsh("undefine", name, "--nvram", check=False)
            if name in self.domains():
                self.virsh("undefine", name, check=False)
        for line in self.virsh("secret-list", check=False).splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2 and TEST_PREFIX in parts[1]:
                self.virsh("secret-undefine", parts[0], check=False)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path):
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def kvm_usable():
    """Make /dev/kvm usable by QEMU's user and say whether it really is (an ioctl as that user)."""
    if not KVM_DEVICE.exists():
        return False
    try:
        gid = grp.getgrnam(KVM_GROUP).gr_gid
        st = KVM_DEVICE.stat()
        if st.st_gid != gid:
            os.chown(KVM_DEVICE, 0, gid)
        if (st.st_mode & 0o660) != 0o660:
            os.chmod(KVM_DEVICE, 0o660)
    except (KeyError, OSError):
        return False
    probe = subprocess.run(
        [
            "setpriv",
            f"--reuid={QEMU_USER}",
            f"--regid={KVM_GROUP}",
            "--init-groups",
            "/usr/bin/python3",
            "-c",
            _KVM_PROBE,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "12"


def _answers(timeout=5):
    proc = subprocess.run(
        ["virsh", "-q", "-c", URI, "version"], capture_output=True, text=True, timeout=timeout + 10
    )
    return proc.returncode == 0


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def _stop(pid_file, name, timeout=30):
    pid = _read_pid(pid_file)
    if pid is None or not _pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:
        Path(pid_file).unlink()
    except FileNotFoundError:
        pass


class _Lock:
    """An flock on the state dir so two sessions never start or stop the daemons at once."""

    def __enter__(self):
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.fh = open(STATE_DIR / "lock", "w")  # noqa: SIM115
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _live_users():
    users = []
    for entry in (STATE_DIR / "users").glob("*"):
        pid = int(entry.name) if entry.name.isdigit() else None
        if pid is not None and _pid_alive(pid):
            users.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return users


def start_libvirt():
    """Start virtlogd and libvirtd unless a libvirtd answers already; return a LibvirtHost."""
    t0 = time.monotonic()
    virt_type = "kvm" if kvm_usable() else "qemu"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_file = LOG_DIR / "scloud-test-libvirtd.log"
    with _Lock():
        (STATE_DIR / "users").mkdir(parents=True, exist_ok=True)
        (STATE_DIR / "users" / str(os.getpid())).touch()
        started_here = False
        pids = {}
        if not (SOCKET.exists() and _answers()):
            env = dict(os.environ)
            env["LIBVIRT_LOG_OUTPUTS"] = f"3:file:{log_file}"
            Path("/run/libvirt").mkdir(parents=True, exist_ok=True)
            for daemon in ("virtlogd", "libvirtd"):
                pid_file = STATE_DIR / f"{daemon}.pid"
                pid = _read_pid(pid_file)
                if pid is not None and _pid_alive(pid):
                    continue  # a crashed session's virtlogd: reuse it
                subprocess.run(
                    [f"/usr/sbin/{daemon}", "--daemon", "--pid-file", str(pid_file)],
                    env=env,
                    check=True,
                    timeout=60,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                if daemon == "virtlogd":
                    _wait_for(lambda: Path("/run/libvirt/virtlogd-sock").exists(), 30, "virtlogd socket")
            _wait_for(lambda: SOCKET.exists() and _answers(), 60, "libvirtd to answer on qemu:///system")
            started_here = True
            pids = {d: _read_pid(STATE_DIR / f"{d}.pid") for d in ("virtlogd", "libvirtd")}
            (STATE_DIR / "owner").write_text(str(os.getpid()))
    host = LibvirtHost(
        uri=URI,
        virt_type=virt_type,
        start_seconds=round(time.monotonic() - t0, 3),
        started_here=started_here,
        log_file=log_file,
        pids=pids,
    )
    return host


def stop_libvirt(host):
    """Remove test objects; stop the daemons when this session started them and nobody else uses them."""
    with _Lock():
        (STATE_DIR / "users" / str(os.getpid())).unlink(missing_ok=True)
        if _live_users():
            return  # another session still runs tests on this libvirtd: leave its domains alone
        host.cleanup_test_objects()
        owner = STATE_DIR / "owner"
        if not owner.exists():
            return  # a daemon we did not start: leave it alone
        _stop(STATE_DIR / "libvirtd.pid", "libvirtd")
        _stop(STATE_DIR / "virtlogd.pid", "virtlogd")
        owner.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def libvirt_host():
    """Real libvirtd + virtlogd on this machine, ``qemu:///system``; see the module docstring."""
    host = start_libvirt()
    try:
        yield host
    finally:
        stop_libvirt(host)
