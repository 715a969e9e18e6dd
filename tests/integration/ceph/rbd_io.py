"""Write and checksum RBD images for the tests, through librbd (Debian's python3-rbd, which the
system Python has and the tests' virtualenv does not): run as ``/usr/bin/python3 rbd_io.py``.

    rbd_io.py CONF KEYRING write POOL IMAGE OFFSET LENGTH BYTE   # LENGTH bytes of BYTE at OFFSET
    rbd_io.py CONF KEYRING sha256 POOL IMAGE [SNAP]              # the whole image (or snapshot)
    rbd_io.py CONF KEYRING hold POOL IMAGE SECONDS               # a client holding it open
"""

from __future__ import annotations

import hashlib
import sys
import time

import rados
import rbd

CHUNK = 4 * 1024 * 1024


def main(argv: list[str]) -> str:
    conf, keyring, op, pool, image = argv[:5]
    with rados.Rados(conffile=conf, conf={"keyring": keyring}) as cluster, cluster.open_ioctx(pool) as ioctx:
        if op == "write":
            offset, length, byte = int(argv[5]), int(argv[6]), int(argv[7], 0)
            with rbd.Image(ioctx, image) as img:
                data = bytes([byte]) * min(length, CHUNK)
                done = 0
                while done < length:
                    n = min(len(data), length - done)
                    img.write(data[:n], offset + done)
                    done += n
                img.flush()
            return "ok"
        if op == "hold":
            with rbd.Image(ioctx, image) as img:
                img.write(b"\0", 0)  # a writer: it holds the exclusive lock and a watch
                print("held", flush=True)
                time.sleep(float(argv[5]))
            return "released"
        snap = argv[5] if len(argv) > 5 else None
        digest = hashlib.sha256()
        with rbd.Image(ioctx, image, snapshot=snap, read_only=True) as img:
            size = img.size()
            for off in range(0, size, CHUNK):
                digest.update(img.read(off, min(CHUNK, size - off)))
        return digest.hexdigest()


if __name__ == "__main__":
    print(main(sys.argv[1:]))
