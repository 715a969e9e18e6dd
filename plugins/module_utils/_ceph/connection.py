# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Ceph session of the collection: a librados connection to the monitors.

:data:`CEPH` is the engine of every Ceph module (shared options ``CEPH_CONNECTION_SPEC``, documented
once by the doc fragment ``scloud.stack.ceph``; action group ``scloud.stack.ceph``).
:class:`CephSession` is one librados connection per task, through which every read and write goes
as a JSON ``mon_command``; no ``ceph`` CLI subprocess. The libvirt code opens the same class for the
RBD images behind a domain's disks.
"""

from __future__ import annotations

import json
import traceback

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Engine

try:
    import rados

    HAS_RADOS = True
    RADOS_IMPORT_ERROR = None
except ImportError:
    rados = None
    HAS_RADOS = False
    RADOS_IMPORT_ERROR = traceback.format_exc()

try:
    import rbd

    HAS_RBD = True
    RBD_IMPORT_ERROR = None
except ImportError:
    rbd = None
    HAS_RBD = False
    RBD_IMPORT_ERROR = traceback.format_exc()


CEPH_CONNECTION_SPEC = {
    "cluster": {"type": "str", "default": "ceph"},
    "conf": {"type": "path"},
    "user": {"type": "str", "default": "admin"},
    "keyring": {"type": "path", "no_log": False},
    "timeout": {"type": "int", "default": 30},
}


class CephSession:
    """One librados connection; ``mon_command`` sends a JSON command and returns parsed JSON.

    The monitors come from ``conf`` (default: librados' search, ``/etc/ceph/<cluster>.conf``) or
    from ``mon_host``; with ``mon_host`` and no ``conf`` no file is read. The key comes from
    ``keyring`` (default: what the configuration says) or is given as ``key`` (base64). ``cluster``
    ``None`` lets librados name the cluster after the configuration file.

    ``round_trips`` counts the monitor commands sent, so a module can report how many it used.
    """

    def __init__(
        self, cluster="ceph", conf=None, user="admin", keyring=None, timeout=30, mon_host=None, key=None
    ):
        if not HAS_RADOS:
            raise MissingLibraryError(
                "the Python binding rados is missing (install python3-rados)", exception=RADOS_IMPORT_ERROR
            )
        self.timeout = timeout
        self.round_trips = 0
        self.rados = None
        overrides = {
            "client_mount_timeout": str(timeout),
            "rados_mon_op_timeout": str(timeout),
            "rados_osd_op_timeout": str(timeout),
        }
        if keyring:
            overrides["keyring"] = keyring
        if mon_host:
            overrides["mon_host"] = mon_host
        if key:
            overrides["key"] = key
        # "" reads librados' default configuration file; None reads none (the monitors are given).
        conffile = conf or (None if mon_host else "")
        where = f"monitors {mon_host}" if mon_host and not conf else f"conf {conf or 'default'}"
        secret = "the key given" if key else f"keyring {keyring or 'default'}"
        try:
            self.rados = rados.Rados(clustername=cluster, rados_id=user, conffile=conffile, conf=overrides)
            self.rados.connect(timeout=timeout)
        except rados.Error as exc:
            self.close()
            name = f"Ceph cluster {cluster!r}" if cluster else "the Ceph cluster"
            raise EngineError(
                f"cannot connect to {name} as client.{user} ({where}, {secret}): {exc}"
            ) from exc

    def close(self):
        if self.rados is not None:
            self.rados.shutdown()
            self.rados = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def mon_command(self, prefix, allow_errno=(), **args):
        """Run ``prefix`` with ``args`` on the monitors.

        Returns the parsed JSON answer (``None`` when empty). A negative return code raises
        :class:`EngineError` unless its errno is in ``allow_errno``, in which case ``None`` is returned.
        """
        return self._command(self.rados.mon_command, prefix, allow_errno, args)

    def mgr_command(self, prefix, allow_errno=(), **args):
        """Run ``prefix`` on the active manager: the commands it serves itself, such as ``osd purge``
        (its safety checks, then the monitors' ``osd purge-actual``; a monitor answers EINVAL)."""
        return self._command(self.rados.mgr_command, prefix, allow_errno, args)

    def _command(self, send, prefix, allow_errno, args):
        cmd = {"prefix": prefix, "format": "json"}
        cmd.update({k: v for k, v in args.items() if v is not None})
        self.round_trips += 1
        ret, out, status = send(json.dumps(cmd), b"", timeout=self.timeout)
        if ret != 0:
            if -ret in allow_errno:
                return None
            raise EngineError(
                f"ceph {prefix} failed ({ret}): {status.strip() or 'no message'}", command=cmd, errno=-ret
            )
        if not out:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return out.decode(errors="replace")

    def open_ioctx(self, pool):
        return self.rados.open_ioctx(pool)


class CephEngine(Engine):
    """How a Ceph module connects: ``CEPH_CONNECTION_SPEC``, one :class:`CephSession` per task."""

    name = "ceph"
    connection_spec = CEPH_CONNECTION_SPEC
    native_errors = tuple(e for e in (getattr(rados, "Error", None), getattr(rbd, "Error", None)) if e)

    def require(self, need_rbd=False):
        """``need_rbd``: the module opens RBD images, not only monitor commands."""
        from ansible.module_utils.basic import missing_required_lib

        if not HAS_RADOS:
            raise MissingLibraryError(
                missing_required_lib("rados (Debian package python3-rados)"), exception=RADOS_IMPORT_ERROR
            )
        if need_rbd and not HAS_RBD:
            raise MissingLibraryError(
                missing_required_lib("rbd (Debian package python3-rbd)"), exception=RBD_IMPORT_ERROR
            )

    def open(self, module, need_rbd=False):
        params = module.params
        return CephSession(
            cluster=params["cluster"],
            conf=params.get("conf"),
            user=params["user"],
            keyring=params.get("keyring"),
            timeout=params["timeout"],
        )

    def report(self, session):
        return {"mon_round_trips": session.round_trips}


CEPH = CephEngine()
