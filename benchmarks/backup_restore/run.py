"""Backup and restore of 2 GiB and 10 GiB volumes: ``rbd_backup``/``rbd_restore`` against the
``rbd export | rbd import`` pipelines an operator would type, on the same data, in one run.

One fresh cluster (the test fixture's, 3 OSDs on this machine's disk, pools of size 1 so the disk
measures the data path once), per volume size:

* fill the volume with non-zero data (every extent allocated), snapshot ``s1``;
* full backup: ``rbd_backup`` (the module through ansible-playbook) into the backup pool, against
  ``rbd export src@s1 - | rbd import - bak/…``;
* 5 % rewritten, snapshot ``s2``; incremental backup: ``rbd_backup`` again, against
  ``rbd export-diff --from-snap s1 src@s2 - | rbd import-diff - bak/…``;
* full restore of ``s2`` into a new volume: ``rbd_restore`` (with and without ``verify``, which reads
  both sides to compare SHA-256), against ``rbd export bak/…@s2 - | rbd import - src/…``.

Usage: ``.venv/bin/python benchmarks/backup_restore/run.py [--sizes 2,10]``; writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.harness import run_module  # noqa: E402
from tests.integration.engines.ceph import CephCluster  # noqa: E402

GiB = 1024**3
MiB = 1024**2
RBD_IO = str(REPO / "tests" / "integration" / "ceph" / "rbd_io.py")


def pipe(cluster, left, right) -> float:
    """``rbd <left> | rbd <right>``, two processes joined by a pipe (no shell); seconds."""
    t = time.monotonic()
    a = subprocess.Popen(["rbd", "-c", cluster.conf, *left], stdout=subprocess.PIPE)
    b = subprocess.run(["rbd", "-c", cluster.conf, *right], stdin=a.stdout, capture_output=True, check=False)
    a.stdout.close()
    assert a.wait() == 0 and b.returncode == 0, b.stderr
    return time.monotonic() - t


def module(name, cluster, **options) -> tuple[float, dict]:
    t = time.monotonic()
    res = run_module(f"scloud.stack.{name}", {**cluster.module_args, **options})
    took = time.monotonic() - t
    assert res.status == "successful", res.result
    return took, res.result


def io(cluster, *argv):
    subprocess.run(
        ["/usr/bin/python3", RBD_IO, cluster.conf, cluster.keyring, *map(str, argv)],
        check=True,
        capture_output=True,
        timeout=3600,
    )


def rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / MiB / seconds:.0f} MB/s"


def bench(cluster, size_gib: int) -> list[str]:
    size = size_gib * GiB
    src, name = "src", f"vol{size_gib}"
    run_module("scloud.stack.rbd_image", {**cluster.module_args, "pool": src, "name": name, "size": size})
    t = time.monotonic()
    for offset in range(0, size, GiB):  # one byte value per GiB: no extent is zero
        io(cluster, "write", src, name, offset, min(GiB, size - offset), 0x10 + offset // GiB)
    fill = time.monotonic() - t
    run_module("scloud.stack.rbd_snapshot", {**cluster.module_args, "pool": src, "image": name, "name": "s1"})

    full_mod, res = module("rbd_backup", cluster, pool=src, image=name, snapshot="s1", backup_pool="bak")
    assert res["backup"]["bytes_moved"] == size, res["backup"]
    full_cli = pipe(cluster, ["export", f"{src}/{name}@s1", "-"], ["import", "-", f"bak/{name}-cli"])
    subprocess.run(["rbd", "-c", cluster.conf, "snap", "create", f"bak/{name}-cli@s1"], check=True)

    delta = size // 20
    io(cluster, "write", src, name, size // 2, delta, 0xEE)
    run_module("scloud.stack.rbd_snapshot", {**cluster.module_args, "pool": src, "image": name, "name": "s2"})
    inc_mod, res = module("rbd_backup", cluster, pool=src, image=name, snapshot="s2", backup_pool="bak")
    moved = res["backup"]["bytes_moved"]
    inc_cli = pipe(
        cluster,
        ["export-diff", "--from-snap", "s1", f"{src}/{name}@s2", "-"],
        ["import-diff", "-", f"bak/{name}-cli"],
    )

    restore_mod, res = module(
        "rbd_restore",
        cluster,
        backup_pool="bak",
        backup_image=f"{src}.{name}",
        snapshot="s2",
        pool=src,
        image=f"{name}-restored",
    )
    verify_mod, res_v = module(
        "rbd_restore",
        cluster,
        backup_pool="bak",
        backup_image=f"{src}.{name}",
        snapshot="s2",
        pool=src,
        image=f"{name}-verified",
        verify=True,
    )
    assert res_v["restore"]["verified"], res_v
    restore_cli = pipe(cluster, ["export", f"bak/{name}-cli@s2", "-"], ["import", "-", f"{src}/{name}-cli"])
    for image in (f"{name}-restored", f"{name}-verified", f"{name}-cli", name):
        subprocess.run(
            ["rbd", "-c", cluster.conf, "snap", "purge", f"{src}/{image}"], check=False, capture_output=True
        )
        subprocess.run(["rbd", "-c", cluster.conf, "rm", f"{src}/{image}"], check=False, capture_output=True)
    for image in (f"{src}.{name}", f"{name}-cli"):
        subprocess.run(
            ["rbd", "-c", cluster.conf, "snap", "purge", f"bak/{image}"], check=False, capture_output=True
        )
        subprocess.run(["rbd", "-c", cluster.conf, "rm", f"bak/{image}"], check=False, capture_output=True)
    return [
        f"| {size_gib} GiB | full backup | {full_mod:.1f} s ({rate(size, full_mod)}) | "
        f"{full_cli:.1f} s ({rate(size, full_cli)}) | {size // MiB} MiB |",
        f"| {size_gib} GiB | incremental backup (5 % rewritten) | {inc_mod:.1f} s | {inc_cli:.1f} s | "
        f"{moved // MiB} MiB |",
        f"| {size_gib} GiB | full restore into a new volume | {restore_mod:.1f} s "
        f"({rate(size, restore_mod)}) | "
        f"{restore_cli:.1f} s ({rate(size, restore_cli)}) | {size // MiB} MiB |",
        f"| {size_gib} GiB | full restore, verified by SHA-256 | {verify_mod:.1f} s | | |",
        f"| {size_gib} GiB | (filling the volume first, librbd) | {fill:.1f} s ({rate(size, fill)}) | | |",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2,10")
    opts = parser.parse_args(argv)
    sizes = [int(s) for s in opts.sizes.split(",")]
    cluster = CephCluster(osd_count=3, block_size=(max(sizes) * 5 // 3 + 4) * GiB)
    rows = []
    try:
        cluster.start()
        cluster.ceph("config", "set", "global", "mon_allow_pool_size_one", "true")
        for pool in ("src", "bak"):
            cluster.ceph("osd", "pool", "create", pool, "32", "32", "replicated")
            cluster.ceph("osd", "pool", "set", pool, "size", "1", "--yes-i-really-mean-it")
            cluster.ceph("osd", "pool", "application", "enable", pool, "rbd")
        cluster.wait_for_clean()
        for size in sizes:
            rows += bench(cluster, size)
            print("\n".join(rows[-5:]), flush=True)
    finally:
        cluster.stop()
    out = [
        "## backup_restore",
        "",
        "Backup and restore of a volume full of data (every extent allocated): the modules (through",
        "ansible-playbook, one librados session, the data moving inside the module's process) against",
        "the `rbd` pipelines an operator types, on the same data in one run. One test cluster on this",
        "machine's disk: 3 OSDs, pools of size 1 (the disk carries each byte once). The seed's target",
        "for a restore is minutes.",
        "",
        "| volume | what | rbd_backup / rbd_restore | rbd export \\| rbd import | data moved |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    (Path(__file__).parent / "RESULTS.md").write_text("\n".join(out))


if __name__ == "__main__":
    main()
