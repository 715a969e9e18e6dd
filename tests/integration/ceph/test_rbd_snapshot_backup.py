"""rbd_snapshot, rbd_backup and rbd_restore against the real cluster: known data written, snapshot,
overwritten, rolled back to the old checksum; backed up into another pool, more written, an
incremental backup that moves only the delta; the volume destroyed and restored with every
checksum equal. Data is written and checksummed through librbd (``rbd_io.py``), not the modules."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import run_module
from tests.integration.ceph._util import args, assert_fails, converge4, run, run_tasks

pytestmark = pytest.mark.ceph
SNAP, BACKUP, RESTORE = "scloud.stack.rbd_snapshot", "scloud.stack.rbd_backup", "scloud.stack.rbd_restore"
MiB = 1024**2
RBD_IO = str(Path(__file__).with_name("rbd_io.py"))


@pytest.fixture(scope="module")
def pools(ceph_cluster):
    ceph_cluster.create_pool("t-vol", pg_num=8, application="rbd")
    ceph_cluster.create_pool("t-bak", pg_num=8, application="rbd")
    yield "t-vol", "t-bak"
    for pool in ("t-vol", "t-bak"):
        ceph_cluster.ceph("osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it")


def io(cluster, *argv) -> str:
    out = subprocess.run(
        ["/usr/bin/python3", RBD_IO, cluster.conf, cluster.keyring, *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return out.stdout.strip()


def write(cluster, pool, image, offset, length, byte):
    io(cluster, "write", pool, image, offset, length, byte)


def sha(cluster, pool, image, snap=None):
    return io(cluster, "sha256", pool, image, *([snap] if snap else []))


def image(cluster, pool, name, size):
    res = run_module("scloud.stack.rbd_image", args(cluster, pool=pool, name=name, size=size))
    assert res.status == "successful", res.result


def test_snapshot_rollback_protect_remove(ceph_cluster, pools):
    pool, _ = pools
    image(ceph_cluster, pool, "snapvol", 16 * MiB)
    write(ceph_cluster, pool, "snapvol", 0, 8 * MiB, 0xAA)
    known = sha(ceph_cluster, pool, "snapvol")

    runs = converge4(SNAP, args(ceph_cluster, pool=pool, image="snapvol", name="s1"))
    snap = runs["apply_again"].result["snapshot"]
    assert snap["name"] == "s1" and snap["size"] == 16 * MiB and not snap["protected"]
    assert runs["check"].result["actions"] == ["create"] and runs["apply"].diff[0]["after"]["name"] == "s1"
    assert sha(ceph_cluster, pool, "snapvol", "s1") == known

    # Overwritten, then rolled back: check mode predicts it and touches nothing; once rolled back,
    # the image equals the snapshot, so the same task changes nothing.
    write(ceph_cluster, pool, "snapvol", 0, 4 * MiB, 0xBB)
    overwritten = sha(ceph_cluster, pool, "snapvol")
    assert overwritten != known
    rollback = args(ceph_cluster, pool=pool, image="snapvol", name="s1", rollback=True)
    check = run(SNAP, rollback, check=True)
    assert check.changed and check.result["actions"] == ["rollback"], check.result
    assert sha(ceph_cluster, pool, "snapvol") == overwritten
    done = run(SNAP, rollback)
    assert done.changed and done.result["actions"] == ["rollback"], done.result
    assert sha(ceph_cluster, pool, "snapvol") == known
    again = run(SNAP, rollback)
    assert not again.changed and again.result["actions"] == [], again.result

    # Protected (clones can be made of it), then removed: unprotected first.
    runs = converge4(SNAP, args(ceph_cluster, pool=pool, image="snapvol", name="s1", protected=True))
    assert runs["apply"].result["snapshot"]["protected"]
    assert ceph_cluster.rbd("snap", "ls", f"{pool}/snapvol")[0]["protected"] == "true"
    runs = converge4(SNAP, args(ceph_cluster, pool=pool, image="snapvol", name="s1", state="absent"))
    assert (
        runs["apply"].result["actions"] == ["unprotect", "remove"] and runs["apply"].result["snapshots"] == []
    )
    assert ceph_cluster.rbd("snap", "ls", f"{pool}/snapvol") == []


def test_no_rollback_while_the_image_is_in_use(ceph_cluster, pools):
    pool, _ = pools
    image(ceph_cluster, pool, "busyvol", 8 * MiB)
    run(SNAP, args(ceph_cluster, pool=pool, image="busyvol", name="s1"))
    write(ceph_cluster, pool, "busyvol", 0, MiB, 0x33)
    holder = subprocess.Popen(
        ["/usr/bin/python3", RBD_IO, ceph_cluster.conf, ceph_cluster.keyring, "hold", pool, "busyvol", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = sha(ceph_cluster, pool, "busyvol")
        res = run(SNAP, args(ceph_cluster, pool=pool, image="busyvol", name="s1", rollback=True))
        assert_fails(res, "rollback", "in use by", "stop its VM")
        assert sha(ceph_cluster, pool, "busyvol") == before
    finally:
        holder.kill()
        holder.wait()


def test_snapshot_bad_input_names_the_option(ceph_cluster, pools):
    pool, _ = pools
    image(ceph_cluster, pool, "badvol", 4 * MiB)
    base = args(ceph_cluster, pool=pool, image="badvol", name="s1")
    results = run_tasks(
        SNAP,
        {
            "at": {**base, "name": "a@b"},
            "slash": {**base, "image": "x/y"},
            "gone": {**base, "image": "nosuchimage"},
            "nopool": {**base, "pool": "nosuchpool"},
            "absent-rollback": {**base, "state": "absent", "rollback": True},
        },
    )
    for key, option, fragment in [
        ("at", "name", "not a name"),
        ("slash", "image", "not a name"),
        ("gone", "image", "does not exist"),
        ("nopool", "pool", "does not exist"),
        ("absent-rollback", "rollback", "cannot be rolled back"),
    ]:
        failed, msg, _ = results[key]
        assert failed and msg.startswith(f"{option}:") and fragment in msg, (key, msg)
    assert ceph_cluster.rbd("snap", "ls", f"{pool}/badvol") == []


def test_backup_incremental_then_restore(ceph_cluster, pools):
    pool, bpool = pools
    image(ceph_cluster, pool, "db", 64 * MiB)
    write(ceph_cluster, pool, "db", 0, 16 * MiB, 0x11)
    run(SNAP, args(ceph_cluster, pool=pool, image="db", name="n1"))
    sum1 = sha(ceph_cluster, pool, "db", "n1")

    # The first backup: the allocated extents only (16 MiB of a 64 MiB volume).
    backup = args(ceph_cluster, pool=pool, image="db", snapshot="n1", backup_pool=bpool, verify=True)
    runs = converge4(BACKUP, backup)
    first = runs["apply"].result["backup"]
    assert first["mode"] == "full" and first["bytes_moved"] == 16 * MiB and first["verified"], first
    assert runs["check"].result["backup"]["bytes_moved"] == 16 * MiB  # predicted exactly
    assert sha(ceph_cluster, bpool, f"{pool}.db", "n1") == sum1

    # More written; the incremental backup moves the delta only.
    write(ceph_cluster, pool, "db", 40 * MiB, 4 * MiB, 0x22)
    run(SNAP, args(ceph_cluster, pool=pool, image="db", name="n2"))
    sum2 = sha(ceph_cluster, pool, "db", "n2")
    runs = converge4(BACKUP, {**backup, "snapshot": "n2"})
    inc = runs["apply"].result["backup"]
    assert inc["mode"] == "incremental" and inc["base"] == "n1" and inc["bytes_moved"] == 4 * MiB, inc
    assert inc["snapshots"] == ["n1", "n2"] and inc["verified"]
    assert sha(ceph_cluster, bpool, f"{pool}.db", "n2") == sum2
    assert sha(ceph_cluster, bpool, f"{pool}.db", "n1") == sum1  # the older one is still there
    print(f"\nbackup: full {first['bytes_moved'] // MiB} MiB, incremental {inc['bytes_moved'] // MiB} MiB")

    # The volume destroyed: restored from the backup, every checksum equal; a second run is a no-op.
    ceph_cluster.rbd("snap", "purge", f"{pool}/db", json_out=False)
    ceph_cluster.rbd("rm", f"{pool}/db", json_out=False)
    restore = args(
        ceph_cluster,
        pool=pool,
        image="db",
        backup_pool=bpool,
        backup_image=f"{pool}.db",
        snapshot="n2",
        verify=True,
    )
    t0 = time.monotonic()
    runs = converge4(RESTORE, restore)
    took = time.monotonic() - t0
    done = runs["apply"].result["restore"]
    assert done["mode"] == "copy" and done["verified"] and done["bytes_moved"] == 20 * MiB, done
    assert sha(ceph_cluster, pool, "db") == sum2
    print(f"restore of a 64 MiB volume (20 MiB of data), check/apply/check/apply: {took:.1f} s")

    # Overwritten by mistake: refused without overwrite; with it, a rollback (the image holds n2).
    write(ceph_cluster, pool, "db", 0, MiB, 0x99)
    assert_fails(run(RESTORE, restore), "overwrite", "exists and differs")
    res = run(RESTORE, {**restore, "overwrite": True})
    assert res.changed and res.result["restore"]["mode"] == "rollback", res.result
    assert res.result["restore"]["bytes_moved"] == 0 and sha(ceph_cluster, pool, "db") == sum2

    # Restored into a new volume from the older backup.
    res = run(RESTORE, {**restore, "image": "db-n1", "snapshot": "n1"})
    assert res.changed and res.result["restore"]["mode"] == "copy"
    assert sha(ceph_cluster, pool, "db-n1") == sum1
    # Over an existing volume that does not hold the snapshot: its content replaced, nothing stale left.
    res = run(RESTORE, {**restore, "image": "db-n1", "overwrite": True})
    assert res.changed and res.result["restore"]["mode"] == "copy" and res.result["restore"]["verified"]
    assert sha(ceph_cluster, pool, "db-n1") == sum2

    # Retention: keep one; the newest stays, the base of the next increment.
    run(SNAP, args(ceph_cluster, pool=pool, image="db", name="n3"))
    res = run(BACKUP, {**backup, "snapshot": "n3", "keep": 1})
    assert res.result["backup"]["removed_snapshots"] == ["n1", "n2"] and res.result["backup"][
        "snapshots"
    ] == ["n3"]
    assert [s["name"] for s in ceph_cluster.rbd("snap", "ls", f"{bpool}/{pool}.db")] == ["n3"]

    runs = converge4(BACKUP, {**backup, "state": "absent", "snapshot": None})
    assert ceph_cluster.rbd("ls", bpool) == []


def test_backup_bad_input_names_the_option(ceph_cluster, pools):
    pool, bpool = pools
    image(ceph_cluster, pool, "badsrc", 4 * MiB)
    base = args(ceph_cluster, pool=pool, image="badsrc", snapshot="x", backup_pool=bpool)
    results = run_tasks(
        BACKUP,
        {
            "same": {**base, "backup_pool": pool},
            "keep": {**base, "keep": 0},
            "nosnap": base,
            "nosnapname": {**base, "snapshot": None},
            "nopool": {**base, "backup_pool": "nosuchpool"},
        },
    )
    for key, option, fragment in [
        ("same", "backup_pool", "another pool"),
        ("keep", "keep", "1 or more"),
        ("nosnap", "snapshot", "has no snapshot"),
        ("nosnapname", "snapshot", "is required"),
        ("nopool", "backup_pool", "does not exist"),
    ]:
        failed, msg, _ = results[key]
        assert failed and msg.startswith(f"{option}:") and fragment in msg, (key, msg)
    assert ceph_cluster.rbd("ls", bpool) == []


def test_an_image_with_snapshots_goes_only_with_purge_snapshots(ceph_cluster, pools):
    pool, _ = pools
    image(ceph_cluster, pool, "purgevol", 4 * MiB)
    run(SNAP, args(ceph_cluster, pool=pool, image="purgevol", name="p1", protected=True))
    run(SNAP, args(ceph_cluster, pool=pool, image="purgevol", name="p2"))
    gone = args(ceph_cluster, pool=pool, name="purgevol", state="absent")
    assert_fails(run("scloud.stack.rbd_image", gone), "purge_snapshots", "p1, p2")
    assert "purgevol" in ceph_cluster.rbd("ls", pool)
    check = run("scloud.stack.rbd_image", {**gone, "purge_snapshots": True}, check=True)
    assert check.changed and check.result["snapshots_removed"] == ["p1", "p2"]
    assert "purgevol" in ceph_cluster.rbd("ls", pool)
    runs = converge4("scloud.stack.rbd_image", {**gone, "purge_snapshots": True})
    assert runs["apply"].result["snapshots_removed"] == ["p1", "p2"]
    assert "purgevol" not in ceph_cluster.rbd("ls", pool)
