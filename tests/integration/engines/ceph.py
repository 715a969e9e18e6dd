"""A real, small Ceph cluster on this machine, without systemd (DESIGN.md section 5).

``ceph_cluster`` (session scope) bootstraps Debian's Ceph 16.2 (Pacific) in a private directory:
1 mon, 1 mgr and 3 OSDs on file-backed bluestore, every daemon started directly in the foreground
(no systemd on the host) and listening on 127.0.0.1 only. Each OSD sits under its own CRUSH host
bucket (``osd-host-0..2`` under ``root=default``) so a size-3 pool with failure domain ``host``
becomes active+clean. At the end every daemon is stopped and the directory removed.

The cluster's ``ceph.conf`` and admin keyring are ordinary files: modules reach the cluster with
``conf: <cluster.conf>`` and ``keyring: <cluster.keyring>`` exactly as on a real host::

    def test_x(ceph_cluster):
        ceph_cluster.ceph("osd", "pool", "create", "p", "8")
        assert ceph_cluster.ceph("osd", "pool", "ls") == [..., "p"]
        run_module("scloud.stack.ceph_pool", {"name": "p", **ceph_cluster.module_args})
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

__all__ = ["CephCluster", "ceph_cluster"]

OSD_COUNT = 3
MON_ID = "a"
MGR_ID = "x"
CLUSTER = "ceph"

# Settings that keep three OSDs on a shared 2-core VM small and quick to start, and that remove
# warnings which say nothing about a one-machine test cluster. Why each one is here:
_CONF_TEMPLATE = """\
[global]
fsid = {fsid}
mon initial members = {mon_id}
mon host = [v2:127.0.0.1:{port_v2},v1:127.0.0.1:{port_v1}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
# No client of this cluster is old enough to need insecure global_id reclaim: refuse it, and
# the matching health warning disappears for the right reason.
auth allow insecure global id reclaim = false
run dir = {dir}/run
admin socket = {dir}/run/$cluster-$name.asok
pid file = {dir}/run/$cluster-$name.pid
log file = {dir}/log/$cluster-$name.log
log to stderr = false
err to stderr = true
# Every file of the cluster lives in this directory.
mon data = {dir}/mon/$cluster-$id
mgr data = {dir}/mgr/$cluster-$id
osd data = {dir}/osd/$cluster-$id
# Pools: 3 copies over 3 hosts, small PG counts, no autoscaler moving pg_num under the tests.
osd pool default size = 3
osd pool default min size = 2
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 1
mon allow pool delete = true
# The VM disk is shared with everything else: do not warn about its free space.
mon data avail warn = 2
mon data avail crit = 1
# A one-mon test cluster has no redundancy to warn about.
mon warn on pool no redundancy = false

[mon]
keyring = $mon_data/keyring

[mgr]
keyring = $mgr_data/keyring
mgr initial modules = iostat

[osd]
keyring = $osd_data/keyring
osd objectstore = bluestore
bluestore block create = true
bluestore block size = {block_size}
bluestore fsck on mkfs = false
bluestore fsck on mount = false
# Memory: the smallest target Ceph accepts and a small fixed cache.
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 67108864
osd op num shards = 1
osd op num threads per shard = 2
# The fixture puts each OSD in its CRUSH host bucket itself.
osd crush update on start = false
osd heartbeat grace = 20

[client]
keyring = {dir}/{cluster}.client.admin.keyring
"""


def _free_ports(count):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class CephCluster:
    """One private Ceph cluster; :meth:`start` bootstraps it, :meth:`stop` removes every trace."""

    def __init__(self, base_dir=None, osd_count=OSD_COUNT, block_size=10 * 1024**3):
        self.dir = Path(base_dir or tempfile.mkdtemp(prefix="scloud-ceph-"))
        self.cluster = CLUSTER
        self.user = "admin"
        self.fsid = str(uuid.uuid4())
        self.conf = str(self.dir / f"{CLUSTER}.conf")
        self.keyring = str(self.dir / f"{CLUSTER}.client.admin.keyring")
        self.osd_count = osd_count
        self.block_size = block_size
        self.port_v2, self.port_v1 = _free_ports(2)
        self.mon_host = f"[v2:127.0.0.1:{self.port_v2},v1:127.0.0.1:{self.port_v1}]"
        self.procs = {}
        self.start_seconds = None

    # ---------------------------------------------------------------- what tests use
    @property
    def module_args(self):
        """Connection options for the collection's Ceph modules."""
        return {"cluster": self.cluster, "conf": self.conf, "keyring": self.keyring, "user": self.user}

    def ceph(self, *args, timeout=60, check=True):
        """Run the ``ceph`` CLI against this cluster and return its parsed JSON (``None`` if empty)."""
        out = self._run(
            ["ceph", "-c", self.conf, "--connect-timeout", "30", "-f", "json", *args],
            timeout=timeout,
            check=check,
        )
        return json.loads(out) if out.strip() else None

    def rbd(self, *args, timeout=60, check=True, json_out=True):
        """Run the ``rbd`` CLI; with ``json_out`` adds ``--format json`` and parses the output."""
        argv = ["rbd", "-c", self.conf, *args]
        if json_out:
            argv += ["--format", "json"]
        out = self._run(argv, timeout=timeout, check=check)
        if not json_out:
            return out
        return json.loads(out) if out.strip() else None

    def ceph_text(self, *args, timeout=60, check=True):
        """Run the ``ceph`` CLI and return its plain text output."""
        return self._run(
            ["ceph", "-c", self.conf, "--connect-timeout", "30", *args], timeout=timeout, check=check
        )

    def wait_for(self, predicate, timeout=180, interval=1.0, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError) as exc:
                last = exc
            time.sleep(interval)
        raise TimeoutError(f"ceph fixture: timed out waiting for {what} (last: {last!r})\n{self.logs_tail()}")

    def wait_for_clean(self, timeout=180):
        """Wait until every PG of the cluster is active+clean."""

        def clean():
            st = self.ceph("pg", "stat")
            by_state = st.get("pg_summary", st).get("num_pg_by_state", [])
            total = st.get("pg_summary", st).get("num_pgs", 0)
            return total and all(s["name"] == "active+clean" for s in by_state)

        return self.wait_for(clean, timeout=timeout, what="all PGs active+clean")

    def create_pool(self, name, pg_num=8, application="rbd", rule=None):
        """Create a replicated pool (size 3) and tag its application; waits for active+clean."""
        args = ["osd", "pool", "create", name, str(pg_num), str(pg_num), "replicated"]
        if rule:
            args.append(rule)
        self.ceph(*args)
        if application:
            self.ceph("osd", "pool", "application", "enable", name, application)
        self.wait_for_clean()

    def logs_tail(self, lines=20):
        out = []
        for log in sorted((self.dir / "log").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    # ---------------------------------------------------------------- lifecycle
    def _run(self, argv, timeout=60, check=True, input_=None):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input_)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc.stdout

    def _spawn(self, name, argv):
        log = open(self.dir / "log" / f"{name}.out", "ab")  # noqa: SIM115 - closed in stop()
        self.procs[name] = (
            subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
            log,
        )

    def start(self):
        t0 = time.monotonic()
        for sub in ("run", "log", "mon", "mgr", "osd"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        Path(self.conf).write_text(
            _CONF_TEMPLATE.format(
                fsid=self.fsid,
                mon_id=MON_ID,
                port_v2=self.port_v2,
                port_v1=self.port_v1,
                dir=self.dir,
                block_size=self.block_size,
                cluster=CLUSTER,
            )
        )
        self._bootstrap_mon()
        self._start_mgr()
        self._create_osds()
        self.wait_for(
            lambda: self.ceph("osd", "stat")["num_up_osds"] == self.osd_count,
            timeout=180,
            what=f"{self.osd_count} OSDs up",
        )
        self.wait_for(lambda: self.ceph("mgr", "stat")["available"], timeout=120, what="an active mgr")
        self.start_seconds = time.monotonic() - t0
        return self

    def _bootstrap_mon(self):
        mon_keyring = self.dir / "mon.keyring"
        self._run(
            [
                "ceph-authtool",
                "--create-keyring",
                str(mon_keyring),
                "--gen-key",
                "-n",
                "mon.",
                "--cap",
                "mon",
                "allow *",
            ]
        )
        self._run(
            [
                "ceph-authtool",
                "--create-keyring",
                self.keyring,
                "--gen-key",
                "-n",
                "client.admin",
                "--cap",
                "mon",
                "allow *",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mds",
                "allow *",
                "--cap",
                "mgr",
                "allow *",
            ]
        )
        os.chmod(self.keyring, 0o600)
        self._run(["ceph-authtool", str(mon_keyring), "--import-keyring", self.keyring])
        monmap = self.dir / "monmap"
        self._run(
            ["monmaptool", "--create", "--fsid", self.fsid, "--addv", MON_ID, self.mon_host, str(monmap)]
        )
        self._run(
            [
                "ceph-mon",
                "-c",
                self.conf,
                "--cluster",
                CLUSTER,
                "--mkfs",
                "-i",
                MON_ID,
                "--monmap",
                str(monmap),
                "--keyring",
                str(mon_keyring),
            ]
        )
        self._spawn(f"mon.{MON_ID}", ["ceph-mon", "-f", "-c", self.conf, "--cluster", CLUSTER, "-i", MON_ID])
        self.wait_for(
            lambda: self.ceph("mon", "stat", timeout=20), timeout=60, interval=0.5, what="the monitor"
        )

    def _start_mgr(self):
        mgr_dir = self.dir / "mgr" / f"{CLUSTER}-{MGR_ID}"
        mgr_dir.mkdir(parents=True, exist_ok=True)
        self._run(
            [
                "ceph",
                "-c",
                self.conf,
                "auth",
                "get-or-create",
                f"mgr.{MGR_ID}",
                "mon",
                "allow profile mgr",
                "osd",
                "allow *",
                "mds",
                "allow *",
                "-o",
                str(mgr_dir / "keyring"),
            ]
        )
        self._spawn(f"mgr.{MGR_ID}", ["ceph-mgr", "-f", "-c", self.conf, "--cluster", CLUSTER, "-i", MGR_ID])

    def _create_osds(self):
        mkfs = []
        for host_index in range(self.osd_count):
            osd_uuid = str(uuid.uuid4())
            key = self._run(["ceph-authtool", "--gen-print-key"]).strip()
            osd_id = int(
                self._run(
                    ["ceph", "-c", self.conf, "osd", "new", osd_uuid, "-i", "-"],
                    input_=json.dumps({"cephx_secret": key}),
                ).strip()
            )
            data = self.dir / "osd" / f"{CLUSTER}-{osd_id}"
            data.mkdir(parents=True, exist_ok=True)
            self._run(
                [
                    "ceph-authtool",
                    "--create-keyring",
                    str(data / "keyring"),
                    "--name",
                    f"osd.{osd_id}",
                    "--add-key",
                    key,
                ]
            )
            host = f"osd-host-{host_index}"
            self.ceph("osd", "crush", "add-bucket", host, "host")
            self.ceph("osd", "crush", "move", host, "root=default")
            self.ceph("osd", "crush", "add", f"osd.{osd_id}", "0.01", f"host={host}", "root=default")
            # bluestore mkfs of the three OSDs in parallel: it is most of the start-up time.
            mkfs.append(
                (
                    osd_id,
                    subprocess.Popen(
                        [
                            "ceph-osd",
                            "-c",
                            self.conf,
                            "--cluster",
                            CLUSTER,
                            "-i",
                            str(osd_id),
                            "--mkfs",
                            "--osd-uuid",
                            osd_uuid,
                        ],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    ),
                )
            )
        for osd_id, proc in mkfs:
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"ceph-osd --mkfs of osd.{osd_id} failed:\n{out}")
            self._spawn(
                f"osd.{osd_id}", ["ceph-osd", "-f", "-c", self.conf, "--cluster", CLUSTER, "-i", str(osd_id)]
            )

    def stop(self):
        for _name, (proc, _log) in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, (proc, log) in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ceph_cluster():
    """The session's Ceph cluster (see :class:`CephCluster`); stopped and removed at the end."""
    cluster = CephCluster()
    try:
        cluster.start()
        print(f"\nceph fixture: cluster up in {cluster.start_seconds:.1f}s ({cluster.dir})")
        yield cluster
    finally:
        cluster.stop()
