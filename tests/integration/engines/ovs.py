"""Open vSwitch and OVN, started for real on this machine for the test session.

No systemd on the host: the daemons are started directly (``--detach --pidfile``) at Debian's
default paths, so modules that use their default connection (``unix:/var/run/openvswitch/db.sock``,
``unix:/var/run/ovn/ovnnb_db.sock``) reach them. There is no openvswitch kernel module: bridges use
the userspace datapath (``datapath_type=netdev``).

Several pytest sessions may run at once on one machine (engineers share it) and the paths are
fixed, so the engines are shared between sessions through two file locks per engine: a session
holds ``<engine>.users`` shared while it uses the engine; ``<engine>.setup`` serialises start and
stop. The first session starts the engine from fresh databases (stopping whatever an earlier,
finished session left); a session that finds others using a healthy engine joins it; the last one
to leave stops it. Tests therefore use names of their own and never assume an empty database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["ovs", "ovn", "OvsEngine", "OvnEngine"]

OVS_RUN = Path("/var/run/openvswitch")
OVS_DB_DIR = Path("/var/lib/openvswitch")
OVS_LOG = Path("/var/log/openvswitch")
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
OVS_SOCK = OVS_RUN / "db.sock"

OVN_RUN = Path("/var/run/ovn")
OVN_DB_DIR = Path("/var/lib/ovn")
OVN_LOG = Path("/var/log/ovn")
OVN_SCHEMAS = {"nb": Path("/usr/share/ovn/ovn-nb.ovsschema"), "sb": Path("/usr/share/ovn/ovn-sb.ovsschema")}

CHASSIS = "scloud-test-chassis"
LOCK_DIR = Path("/var/run/scloud-test")


@contextlib.contextmanager
def shared_engine(name, start, stop, healthy):
    """Start (or join) engine ``name`` for this session; stop it when the last session leaves.

    Yields True when this session started the engine, False when it joined a running one.
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    setup = open(LOCK_DIR / f"{name}.setup", "a+")  # noqa: SIM115 - held for the whole session
    users = open(LOCK_DIR / f"{name}.users", "a+")  # noqa: SIM115
    try:
        fcntl.flock(setup, fcntl.LOCK_EX)
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        if alone or not healthy():
            try:
                start()
            except BaseException:
                stop()
                fcntl.flock(setup, fcntl.LOCK_UN)
                raise
            started = True
        else:
            started = False
        fcntl.flock(users, fcntl.LOCK_SH)  # downgrade (or take) our share
        fcntl.flock(setup, fcntl.LOCK_UN)
        yield started
    finally:
        fcntl.flock(setup, fcntl.LOCK_EX)
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            last = True
        except BlockingIOError:
            last = False
        if last:
            stop()
        fcntl.flock(users, fcntl.LOCK_UN)
        fcntl.flock(setup, fcntl.LOCK_UN)
        users.close()
        setup.close()


def _answers(argv):
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _run(argv, timeout=30):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _running(pid):
    """True while ``pid`` runs; a zombie (PID 1 here reaps late) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _pid_alive(pidfile):
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _running(pid) else None


def _stop(pidfile, ctl=None, appctl="ovs-appctl"):
    """Ask a daemon to exit through its control socket; SIGTERM, then SIGKILL, if it does not."""
    pid = _pid_alive(pidfile)
    if pid is None:
        Path(pidfile).unlink(missing_ok=True)
        return
    if ctl is not None:
        subprocess.run([appctl, "-t", str(ctl), "exit"], capture_output=True, timeout=10)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
        for _ in range(100):
            if not _running(pid):
                break
            time.sleep(0.05)
        else:
            continue
        break
    Path(pidfile).unlink(missing_ok=True)


def _wait_for(path, timeout=15):
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


@dataclass
class OvsEngine:
    """The local Open vSwitch: ``db`` is the OVSDB remote modules connect to."""

    db: str
    datapath_type: str = "netdev"
    start_seconds: float = 0.0

    def vsctl(self, *args, timeout=30):
        return _run(["ovs-vsctl", f"--db={self.db}", "--timeout=20", *map(str, args)], timeout=timeout)

    def vsctl_json(self, *args):
        """``ovs-vsctl --format=json`` output as a list of dicts keyed by heading."""
        out = json.loads(self.vsctl("--format=json", *args))
        return [dict(zip(out["headings"], row, strict=True)) for row in out["data"]]

    def ofctl(self, *args):
        return _run(["ovs-ofctl", *map(str, args)])


@dataclass
class OvnEngine:
    """The local OVN: NB and SB databases, ovn-northd and one ovn-controller (chassis ``chassis``)."""

    nb: str
    sb: str
    chassis: str = CHASSIS
    start_seconds: float = 0.0

    def nbctl(self, *args, timeout=30):
        return _run(["ovn-nbctl", f"--db={self.nb}", "--timeout=20", *map(str, args)], timeout=timeout)

    def sbctl(self, *args, timeout=30):
        return _run(["ovn-sbctl", f"--db={self.sb}", "--timeout=20", *map(str, args)], timeout=timeout)

    def nb_json(self, *args):
        """``ovn-nbctl --format=json`` output as a list of dicts keyed by heading."""
        out = json.loads(self.nbctl("--format=json", *args))
        return [dict(zip(out["headings"], row, strict=True)) for row in out["data"]]

    def sb_json(self, *args):
        out = json.loads(self.sbctl("--format=json", *args))
        return [dict(zip(out["headings"], row, strict=True)) for row in out["data"]]


# --- Open vSwitch ---------------------------------------------------------------------------------

_OVSDB_PID = OVS_RUN / "ovsdb-server.pid"
_VSWITCHD_PID = OVS_RUN / "ovs-vswitchd.pid"


def _ovs_stop():
    _stop(_VSWITCHD_PID, "ovs-vswitchd")
    _stop(_OVSDB_PID, "ovsdb-server")


def _ovs_start():
    for d in (OVS_RUN, OVS_DB_DIR, OVS_LOG):
        d.mkdir(parents=True, exist_ok=True)
    _ovs_stop()  # whatever a previous session left behind
    conf = OVS_DB_DIR / "conf.db"
    conf.unlink(missing_ok=True)
    (OVS_DB_DIR / ".conf.db.~lock~").unlink(missing_ok=True)
    _run(["ovsdb-tool", "create", str(conf), str(OVS_SCHEMA)])
    OVS_SOCK.unlink(missing_ok=True)
    _run(
        [
            "ovsdb-server",
            str(conf),
            f"--remote=punix:{OVS_SOCK}",
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
            f"--pidfile={_OVSDB_PID}",
            f"--log-file={OVS_LOG / 'ovsdb-server.log'}",
            "--detach",
        ]
    )
    _wait_for(OVS_SOCK)
    db = f"unix:{OVS_SOCK}"
    # What ovs-ctl records at start: the version, and a system id of its own.
    version = _run(["ovs-vswitchd", "--version"]).split()[3]
    _run(
        [
            "ovs-vsctl",
            f"--db={db}",
            "--no-wait",
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            f"ovs_version={version}",
            "external_ids:system-id=scloud-test",
        ]
    )
    _run(
        [
            "ovs-vswitchd",
            db,
            f"--pidfile={_VSWITCHD_PID}",
            f"--log-file={OVS_LOG / 'ovs-vswitchd.log'}",
            "--detach",
        ],
        timeout=60,
    )
    # Wait until vswitchd has read the database (ovs-vsctl without --no-wait needs it).
    _run(
        [
            "ovs-vsctl",
            f"--db={db}",
            "--timeout=20",
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:hostname=scloud-test",
        ]
    )
    return db


def _ovs_teardown():
    # Bridges first, so the netdev datapath releases its tap devices.
    try:
        out = _run(["ovs-vsctl", f"--db=unix:{OVS_SOCK}", "--timeout=10", "list-br"])
        for br in out.split():
            _run(["ovs-vsctl", f"--db=unix:{OVS_SOCK}", "--timeout=10", "--if-exists", "del-br", br])
    except (RuntimeError, subprocess.TimeoutExpired):
        pass
    _ovs_stop()


def _ovs_healthy():
    return _pid_alive(_VSWITCHD_PID) is not None and _answers(
        ["ovs-vsctl", f"--db=unix:{OVS_SOCK}", "--timeout=5", "show"]
    )


@pytest.fixture(scope="session")
def ovs():
    """ovsdb-server + ovs-vswitchd (userspace datapath) at the system paths, fresh conf.db."""
    started = time.monotonic()
    with shared_engine("ovs", _ovs_start, _ovs_teardown, _ovs_healthy) as fresh:
        engine = OvsEngine(db=f"unix:{OVS_SOCK}", start_seconds=time.monotonic() - started)
        how = "started" if fresh else "joined (already used by another session)"
        print(f"\n[ovs fixture] ovsdb-server + ovs-vswitchd {how} in {engine.start_seconds:.2f}s")
        yield engine


# --- OVN ------------------------------------------------------------------------------------------


def _ovn_paths(kind):
    return {
        "db": OVN_DB_DIR / f"ovn{kind}_db.db",
        "sock": OVN_RUN / f"ovn{kind}_db.sock",
        "pid": OVN_RUN / f"ovn{kind}_db.pid",
        "ctl": OVN_RUN / f"ovn{kind}_db.ctl",
        "log": OVN_LOG / f"ovsdb-server-{kind}.log",
    }


_NORTHD_PID = OVN_RUN / "ovn-northd.pid"
_NORTHD_CTL = "ovn-northd"  # ovn-appctl finds the socket through the pidfile
_CONTROLLER_PID = OVN_RUN / "ovn-controller.pid"
_CONTROLLER_CTL = "ovn-controller"


def _ovn_stop():
    _stop(_CONTROLLER_PID, _CONTROLLER_CTL, "ovn-appctl")
    _stop(_NORTHD_PID, _NORTHD_CTL, "ovn-appctl")
    for kind in ("nb", "sb"):
        p = _ovn_paths(kind)
        _stop(p["pid"], p["ctl"])


def _ovn_start(ovs_engine):
    for d in (OVN_RUN, OVN_DB_DIR, OVN_LOG):
        d.mkdir(parents=True, exist_ok=True)
    _ovn_stop()
    schema_name = {"nb": "OVN_Northbound", "sb": "OVN_Southbound"}
    table = {"nb": "NB_Global", "sb": "SB_Global"}
    for kind in ("nb", "sb"):
        p = _ovn_paths(kind)
        p["db"].unlink(missing_ok=True)
        (OVN_DB_DIR / f".ovn{kind}_db.db.~lock~").unlink(missing_ok=True)
        p["sock"].unlink(missing_ok=True)
        _run(["ovsdb-tool", "create", str(p["db"]), str(OVN_SCHEMAS[kind])])
        _run(
            [
                "ovsdb-server",
                str(p["db"]),
                f"--remote=punix:{p['sock']}",
                f"--remote=db:{schema_name[kind]},{table[kind]},connections",
                f"--pidfile={p['pid']}",
                f"--log-file={p['log']}",
                f"--unixctl={p['ctl']}",
                "--detach",
            ]
        )
    for kind in ("nb", "sb"):
        _wait_for(_ovn_paths(kind)["sock"])
    nb = f"unix:{_ovn_paths('nb')['sock']}"
    sb = f"unix:{_ovn_paths('sb')['sock']}"
    _run(["ovn-nbctl", f"--db={nb}", "--no-wait", "init"])
    _run(["ovn-sbctl", f"--db={sb}", "init"])
    _run(
        [
            "ovn-northd",
            f"--ovnnb-db={nb}",
            f"--ovnsb-db={sb}",
            f"--pidfile={_NORTHD_PID}",
            f"--log-file={OVN_LOG / 'ovn-northd.log'}",
            "--detach",
        ]
    )
    ovs_engine.vsctl(
        "set",
        "Open_vSwitch",
        ".",
        f"external_ids:system-id={CHASSIS}",
        f"external_ids:ovn-remote={sb}",
        "external_ids:ovn-encap-type=geneve",
        "external_ids:ovn-encap-ip=127.0.0.1",
        f"external_ids:ovn-bridge-datapath-type={ovs_engine.datapath_type}",
    )
    _run(
        [
            "ovn-controller",
            ovs_engine.db,
            f"--pidfile={_CONTROLLER_PID}",
            f"--log-file={OVN_LOG / 'ovn-controller.log'}",
            "--detach",
        ]
    )
    # Ready when northd has processed the NB (nb_cfg round trip) and the chassis is registered.
    _run(["ovn-nbctl", f"--db={nb}", "--timeout=30", "--wait=sb", "sync"], timeout=40)
    deadline = time.monotonic() + 30
    while True:
        out = _run(["ovn-sbctl", f"--db={sb}", "--bare", "--columns=name", "list", "Chassis"])
        if CHASSIS in out.split():
            break
        if time.monotonic() > deadline:
            raise RuntimeError("ovn-controller did not register its chassis in the SB within 30s")
        time.sleep(0.1)
    return nb, sb


def _ovn_teardown():
    _ovn_stop()
    for kind in ("nb", "sb"):
        _ovn_paths(kind)["sock"].unlink(missing_ok=True)
    shutil.rmtree(OVN_RUN / "tmp", ignore_errors=True)


def _ovn_healthy():
    alive = all(_pid_alive(p) is not None for p in (_NORTHD_PID, _CONTROLLER_PID))
    return alive and _answers(
        ["ovn-nbctl", f"--db=unix:{_ovn_paths('nb')['sock']}", "--timeout=5", "--wait=sb", "sync"]
    )


@pytest.fixture(scope="session")
def ovn(ovs):
    """OVN NB + SB ovsdb-servers, ovn-northd and ovn-controller bound to the local OVS."""
    started = time.monotonic()
    with shared_engine("ovn", lambda: _ovn_start(ovs), _ovn_teardown, _ovn_healthy) as fresh:
        engine = OvnEngine(
            nb=f"unix:{_ovn_paths('nb')['sock']}",
            sb=f"unix:{_ovn_paths('sb')['sock']}",
            start_seconds=time.monotonic() - started,
        )
        how = "started" if fresh else "joined (already used by another session)"
        print(f"\n[ovn fixture] NB + SB + ovn-northd + ovn-controller {how} in {engine.start_seconds:.2f}s")
        yield engine
        # ovn-controller leaves br-int behind; the ovs fixture's teardown removes bridges.
