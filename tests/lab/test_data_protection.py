"""Data protection where users use it: a volume's snapshot, rollback, backup plan and restore through
the VIP of the cloud `make up` built, on its real Ceph (issue 18).

Known data is written on a node through librbd and checksummed there (the whole volume read back),
never through the API: snapshot, overwrite, roll back, the old checksum; a backup plan into the pool
of the other device class (another CRUSH rule), more written, a run that moves only the delta; the
volume destroyed behind the API's back (a disaster), restored from the backup with the checksum of
the last backup, and into a new volume; the restore's duration measured.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.harness import REPO, node_exec
from tests.lab.test_cloud_resources import _converge, _read
from tests.lab.vip import URL, tls

ADMIN_KEY = REPO / ".cache" / "lab" / "admin.key"
RBD_IO = (Path(__file__).parents[1] / "integration" / "ceph" / "rbd_io.py").read_text()
NODE = "scloud-node1"
POOL, BACKUPS = "volumes-ssd", "volumes-hdd"
VOL = f"/v1/volumes/{POOL}/t18-data"
PLAN = "/v1/backups/t18-nightly"
MiB = 1024**2

pytestmark = pytest.mark.slow


def _io(*argv) -> str:
    out = node_exec(
        NODE,
        "python3",
        "-c",
        RBD_IO,
        "/etc/ceph/ceph.conf",
        "/etc/ceph/ceph.client.admin.keyring",
        *map(str, argv),
    )
    return out.stdout.strip()


def _sha(image: str) -> str:
    return _io("sha256", POOL, image)


@pytest.fixture(scope="module")
def api(cloud_deployed):
    headers = {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}
    with httpx.Client(base_url=URL, verify=tls(), headers=headers, timeout=60) as c:
        yield c
        for path in (PLAN, f"{VOL}/snapshots/before", f"{VOL}-copy", VOL):
            if _read(c, path).status_code == 200:
                r = c.delete(path)
                assert r.status_code in (202, 404), r.text


def test_snapshot_rollback_backup_and_restore_through_the_vip(api):
    _converge(api, "PUT", VOL, {"size": "64M"})
    _io("write", POOL, "t18-data", 0, 8 * MiB, 0xAA)
    known = _sha("t18-data")

    # Snapshot, overwrite, roll back: the old checksum.
    _converge(api, "PUT", f"{VOL}/snapshots/before", {})
    _io("write", POOL, "t18-data", 0, 4 * MiB, 0xBB)
    assert _sha("t18-data") != known
    job = _converge(api, "POST", f"{VOL}/snapshots/before/rollback")
    assert _sha("t18-data") == known and sum(h["changed"] for h in job["hosts"].values()) == 1
    _converge(api, "DELETE", f"{VOL}/snapshots/before")

    # A backup plan into the other device class's pool: the first backup moves what was written.
    _converge(api, "PUT", PLAN, {"volume": f"{POOL}/t18-data", "backup_pool": BACKUPS, "keep": 3})
    first = _read(api, PLAN).json()["observed"]["backup"]
    assert first["mode"] == "full" and first["bytes_moved"] == 8 * MiB, first
    stored = node_exec(NODE, "rbd", "ls", BACKUPS).stdout.split()
    assert "backup.t18-nightly" in stored, stored

    # More written; the next backup moves the delta only.
    _io("write", POOL, "t18-data", 32 * MiB, 4 * MiB, 0xCC)
    last = _sha("t18-data")
    time.sleep(1.1)  # backups are named by the second
    _converge(api, "POST", f"{PLAN}/run")
    inc = _read(api, PLAN).json()["observed"]["backup"]
    assert inc["mode"] == "incremental" and inc["bytes_moved"] == 4 * MiB and len(inc["snapshots"]) == 2, inc

    # A disaster: the volume is destroyed behind the API's back. Restored over it from the backup.
    node_exec(NODE, "rbd", "snap", "purge", f"{POOL}/t18-data")
    node_exec(NODE, "rbd", "rm", f"{POOL}/t18-data")
    t0 = time.monotonic()
    job = _converge(api, "POST", f"{PLAN}/restore", {"volume": f"{POOL}/t18-data", "overwrite": True})
    restored = time.monotonic() - t0
    assert _sha("t18-data") == last
    assert _read(api, VOL).json()["observed"]["restore"]["verified"]

    # And into a new volume, which the registry records.
    _converge(
        api, "POST", f"{PLAN}/restore", {"volume": f"{POOL}/t18-data-copy", "snapshot": inc["snapshots"][-1]}
    )
    assert _sha("t18-data-copy") == last
    copy = _read(api, f"{VOL}-copy").json()
    assert copy["status"] == "ready" and copy["spec"]["size"] == "64M", copy
    print(
        f"\nbackup through the VIP: full {first['bytes_moved'] // MiB} MiB, incremental "
        f"{inc['bytes_moved'] // MiB} MiB; restore of the 64 MiB volume (12 MiB of data) {restored:.1f} s "
        "from request to verified"
    )
    _converge(api, "DELETE", PLAN)
    assert "backup.t18-nightly" not in node_exec(NODE, "rbd", "ls", BACKUPS).stdout.split()
    _converge(api, "DELETE", f"{VOL}-copy")
    _converge(api, "DELETE", VOL)
