"""A tiny direct-boot Linux guest for the libvirt tests: Debian's kernel + a busybox initramfs.

Hot-unplug only completes when the guest answers the ACPI eject request, so the tests need a real
OS; the kernel's built-in ``acpiphp`` does that with no driver loaded. The initramfs is one static
busybox and an ``/init`` that mounts /proc and /sys and idles. Built once per session, under
``/var/lib/libvirt/images`` so QEMU's user can read it (pytest's tmp dirs are 0700).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

GUEST_DIR = Path("/var/lib/libvirt/images/scloudt-guest")
INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo scloudt-guest-up > /dev/ttyS0
while true; do sleep 3600; done
"""


def build_guest():
    """Return {"kernel", "initrd", "cmdline"} of the tiny guest, building it when missing."""
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        raise RuntimeError("no /boot/vmlinuz-*: install linux-image-amd64 (packages/apt.txt)")
    busybox = "/bin/busybox"
    if not os.path.exists(busybox):
        raise RuntimeError("no /bin/busybox: install busybox-static (packages/apt.txt)")
    GUEST_DIR.mkdir(parents=True, exist_ok=True)
    kernel = GUEST_DIR / "vmlinuz"
    initrd = GUEST_DIR / "initrd.cpio"
    if not kernel.exists():
        shutil.copyfile(kernels[-1], kernel)
    if not initrd.exists():
        root = GUEST_DIR / "root"
        shutil.rmtree(root, ignore_errors=True)
        for d in ("bin", "proc", "sys", "dev"):
            (root / d).mkdir(parents=True)
        shutil.copyfile(busybox, root / "bin" / "busybox")
        os.chmod(root / "bin" / "busybox", 0o755)
        (root / "init").write_text(INIT)
        os.chmod(root / "init", 0o755)
        names = ["."] + [str(p.relative_to(root)) for p in sorted(root.rglob("*"))]
        archive = subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            cwd=root,
            input="\n".join(names).encode(),
            capture_output=True,
            check=True,
        ).stdout
        initrd.write_bytes(archive)
        shutil.rmtree(root)
    for path in (kernel, initrd):
        os.chmod(path, 0o644)
    return {"kernel": str(kernel), "initrd": str(initrd), "cmdline": "console=ttyS0 quiet panic=-1"}
