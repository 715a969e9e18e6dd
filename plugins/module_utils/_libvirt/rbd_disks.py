# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RBD images behind a domain's disks, seen with the same credentials QEMU uses.

The key is read from the libvirt secret the disk names (``secret_uuid``), the monitors from the
disk's ``hosts`` or ``config`` (else ``/etc/ceph/ceph.conf``): the module needs no Ceph credential
of its own. One :class:`CephSession` (the Ceph modules' session) per distinct (monitors, user, key).
"""

from __future__ import annotations

import base64

from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import (
    HAS_RADOS,
    HAS_RBD,
    RADOS_IMPORT_ERROR,
    RBD_IMPORT_ERROR,
    CephSession,
    rados,
    rbd,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
    ValidationError,
)
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import libvirt

DEFAULT_CONF = "/etc/ceph/ceph.conf"
TIMEOUT = 20


class RbdImages:
    """Sizes of (and, for ``delete_disks``, removal of) RBD images through cached sessions."""

    def __init__(self, conn):
        self.conn = conn
        self.sessions = {}

    def _key(self, disk, option):
        uuid = disk["rbd"].get("secret_uuid")
        if not uuid:
            return None
        try:
            value = self.conn.secretLookupByUUIDString(uuid).value()
        except libvirt.libvirtError as exc:
            raise ValidationError(
                f"{option}.rbd.secret_uuid", f"libvirt secret {uuid} does not exist or has no value"
            ) from exc
        return base64.b64encode(value).decode()

    def _session(self, disk, option):
        if not (HAS_RADOS and HAS_RBD):
            raise MissingLibraryError(
                "RBD disks need the Python bindings rados and rbd on the target "
                "(Debian packages python3-rados, python3-rbd)",
                exception=RADOS_IMPORT_ERROR or RBD_IMPORT_ERROR,
            )
        spec = disk["rbd"]
        key = self._key(disk, option)
        ident = (tuple(spec.get("hosts") or ()), spec.get("config"), spec.get("user"), key)
        if ident not in self.sessions:
            hosts = ",".join(spec.get("hosts") or ())
            try:
                # cluster None: librados names the cluster after the configuration file, as QEMU does.
                self.sessions[ident] = CephSession(
                    cluster=None,
                    conf=spec.get("config") or (None if hosts else DEFAULT_CONF),
                    user=spec.get("user") or "admin",
                    mon_host=hosts or None,
                    key=key,
                    timeout=TIMEOUT,
                )
            except EngineError as exc:
                raise EngineError(f"{option}.rbd: {exc.msg}") from exc
        return self.sessions[ident]

    def _ioctx(self, disk, option):
        session = self._session(disk, option)
        pool = disk["rbd"]["pool"]
        try:
            return session.open_ioctx(pool)
        except rados.ObjectNotFound:
            raise ValidationError(f"{option}.rbd.pool", f"pool {pool} does not exist") from None

    def size(self, disk, option):
        """Size in bytes of the disk's image; :class:`ValidationError` when it does not exist."""
        ioctx = self._ioctx(disk, option)
        name = disk["rbd"]["image"]
        try:
            with rbd.Image(ioctx, name, read_only=True) as image:
                return image.size()
        except rbd.ImageNotFound:
            raise ValidationError(
                f"{option}.rbd.image", f"RBD image {disk['rbd']['pool']}/{name} does not exist"
            ) from None
        finally:
            ioctx.close()

    def remove(self, disk, option):
        ioctx = self._ioctx(disk, option)
        try:
            rbd.RBD().remove(ioctx, disk["rbd"]["image"])
        except rbd.ImageNotFound:
            pass
        except rbd.Error as exc:
            raise EngineError(
                f"{option}: cannot remove RBD image {disk['rbd']['pool']}/{disk['rbd']['image']}: {exc}"
            ) from exc
        finally:
            ioctx.close()

    def close(self):
        for session in self.sessions.values():
            session.close()
        self.sessions = {}
