"""Data protection where users use it: a volume's snapshot, rollback, backup plan and restore through
the VIP of the cloud `make up` built, on its real Ceph (issue 18).

Known data is written on a node through librbd and checksummed there (the whole volume read back),
never through the API: snapshot, overwrite, roll back, the old checksum; a backup plan into the pool
`backups` (a CRUSH rule with one copy per rack: rack r1 of dc1 holds nodes 1 and 2, rack r2 of
dc2 node 3), more written, a run that moves only the delta; the volume destroyed behind the API's
back (a disaster), restored from the backup with the checksum of the last backup, and into a new
volume; the restore's duration measured. Then rack r2's storage goes down (every Ceph daemon of
node 3): the backups stay readable and writable, a backup and a restore run through the VIP, and
the cluster heals when the rack is back.
"""

from __future__ import annotations

import json
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
POOL, BACKUPS = "volumes-ssd", "backups"  # backups: one copy per rack (inventories/lab)
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


def _ceph(*args):
    return json.loads(node_exec(NODE, "ceph", *args, "-f", "json").stdout)


def _node3_osds() -> list[int]:
    tree = _ceph("osd", "tree")
    hosts = {n["name"]: n.get("children", []) for n in tree["nodes"] if n["type"] == "host"}
    return hosts["scloud-node3"]


def _until(what, check, timeout: float, every: float = 3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(every)


def test_a_rack_down_leaves_the_backups_readable_and_writable(api):
    """Rack r2 (dc2: node 3) loses its storage: every Ceph daemon of node 3 stopped. The backups
    pool keeps one copy per rack, so its data reads back, takes writes, and a backup and a restore
    run through the VIP; when the rack is back, every PG is active+clean again."""
    tree = _ceph("osd", "tree")
    by_name = {n["name"]: n for n in tree["nodes"]}
    names = {n["id"]: n["name"] for n in tree["nodes"]}
    assert sorted(names[c] for c in by_name["r1"]["children"]) == ["scloud-node1", "scloud-node2"], by_name[
        "r1"
    ]
    assert [names[c] for c in by_name["r2"]["children"]] == ["scloud-node3"]
    assert [names[c] for c in by_name["dc1"]["children"]] == ["r1"] and [
        names[c] for c in by_name["dc2"]["children"]
    ] == ["r2"]
    assert _ceph("osd", "pool", "get", "backups", "crush_rule")["crush_rule"] == "replicated-rack"
    rack2 = set(_node3_osds())
    for pg in _ceph("pg", "ls-by-pool", "backups")["pg_stats"]:
        assert len(pg["up"]) == 2 and len(set(pg["up"]) & rack2) == 1, pg  # one copy in each rack

    _converge(api, "PUT", VOL, {"size": "32M"})
    _io("write", POOL, "t18-data", 0, 8 * MiB, 0x5A)
    _converge(api, "PUT", PLAN, {"volume": f"{POOL}/t18-data", "backup_pool": BACKUPS, "keep": 3})
    backed = _io(
        "sha256",
        BACKUPS,
        "backup.t18-nightly",
        _read(api, PLAN).json()["observed"]["backup"]["snapshots"][-1],
    )
    node_exec(NODE, "rbd", "create", "--size", "16M", f"{BACKUPS}/t18-rackprobe")

    node_exec("scloud-node3", "systemctl", "stop", "ceph.target")
    down = time.monotonic()
    try:
        _until(
            "rack r2's OSDs down",
            lambda: all(n["status"] == "down" for n in _ceph("osd", "tree")["nodes"] if n["id"] in rack2),
            120,
        )
        # Readable: the backup's snapshot reads back whole; writable: new data written and read back.
        assert (
            _io(
                "sha256",
                BACKUPS,
                "backup.t18-nightly",
                _read(api, PLAN).json()["observed"]["backup"]["snapshots"][-1],
            )
            == backed
        )
        _io("write", BACKUPS, "t18-rackprobe", 0, 8 * MiB, 0x77)
        probe = _io("sha256", BACKUPS, "t18-rackprobe")
        # Through the VIP: another backup (writes the backups pool) and a restore (reads it).
        _io("write", POOL, "t18-data", 16 * MiB, 4 * MiB, 0x6B)
        latest = _sha("t18-data")
        time.sleep(1.1)
        _converge(api, "POST", f"{PLAN}/run")
        _converge(api, "POST", f"{PLAN}/restore", {"volume": f"{POOL}/t18-data-copy"})
        assert _sha("t18-data-copy") == latest
        served = time.monotonic() - down
    finally:
        node_exec("scloud-node3", "systemctl", "start", "ceph.target")
    back = time.monotonic()

    def clean():
        status = _ceph("status")
        pgs = status["pgmap"]["pgs_by_state"]
        osds = status["osdmap"]
        return osds["num_up_osds"] == osds["num_osds"] and all(s["state_name"] == "active+clean" for s in pgs)

    _until("every PG active+clean with rack r2 back", clean, 600, every=5)
    healed = time.monotonic() - back
    assert _io("sha256", BACKUPS, "t18-rackprobe") == probe
    print(
        f"\nrack r2 down: backups read, written, backed up and restored (VIP) within {served:.0f} s; "
        f"active+clean {healed:.0f} s after the rack came back"
    )
    node_exec(NODE, "rbd", "rm", f"{BACKUPS}/t18-rackprobe")
    _converge(api, "DELETE", PLAN)
    _converge(api, "DELETE", f"{VOL}-copy")
    _converge(api, "DELETE", VOL)
