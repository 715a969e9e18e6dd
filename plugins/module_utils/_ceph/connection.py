# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one connection every Ceph module opens: a librados session to the monitors.

``CEPH_CONNECTION_SPEC`` is the shared argument spec (documented once, by the doc fragment
``scloud.stack.ceph``); :class:`CephSession` is one librados connection per task, through which
every read and write goes as a JSON ``mon_command``. No ``ceph`` CLI subprocess.
"""

from __future__ import annotations

import json
import traceback

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
)

try:
    import rados

    HAS_RADOS = True
    RADOS_IMPORT_ERROR = None
except ImportError:
    HAS_RADOS = False
    RADOS_IMPORT_ERROR = traceback.format_exc()

try:
    import rbd  # noqa: F401 pylint: disable=unused-import

    HAS_RBD = True
    RBD_IMPORT_ERROR = None
except ImportError:
    HAS_RBD = False
    RBD_IMPORT_ERROR = traceback.format_exc()


CEPH_CONNECTION_SPEC = {
    "cluster": {"type": "str", "default": "ceph"},
    "conf": {"type": "path"},
    "user": {"type": "str", "default": "admin"},
    "keyring": {"type": "path", "no_log": False},
    "timeout": {"type": "int", "default": 30},
}


def ceph_argument_spec(**module_options):
    """The module's own options plus the shared connection options."""
    spec = dict(CEPH_CONNECTION_SPEC)
    spec.update(module_options)
    return spec


def require_library(module, need_rbd=False):
    """Fail with a clear message (and the Debian package to install) when a binding is missing."""
    from ansible.module_utils.basic import missing_required_lib

    if not HAS_RADOS:
        module.fail_json(
            msg=missing_required_lib("rados (Debian package python3-rados)"), exception=RADOS_IMPORT_ERROR
        )
    if need_rbd and not HAS_RBD:
        module.fail_json(
            msg=missing_required_lib("rbd (Debian package python3-rbd)"), exception=RBD_IMPORT_ERROR
        )


class CephSession:
    """One librados connection; ``mon_command`` sends a JSON command and returns parsed JSON.

    ``round_trips`` counts the monitor commands sent, so a module can report how many it used.
    """

    def __init__(self, cluster="ceph", conf=None, user="admin", keyring=None, timeout=30):
        if not HAS_RADOS:
            raise MissingLibraryError("the Python binding rados is missing (install python3-rados)")
        self.timeout = timeout
        self.round_trips = 0
        overrides = {
            "client_mount_timeout": str(timeout),
            "rados_mon_op_timeout": str(timeout),
            "rados_osd_op_timeout": str(timeout),
        }
        if keyring:
            overrides["keyring"] = keyring
        try:
            self.rados = rados.Rados(clustername=cluster, rados_id=user, conffile=conf or "", conf=overrides)
            self.rados.connect(timeout=timeout)
        except rados.Error as exc:
            raise EngineError(
                f"cannot connect to Ceph cluster {cluster!r} as client.{user} "
                f"(conf {conf or 'default'}, keyring {keyring or 'default'}): {exc}"
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
        """Run ``prefix`` with ``args`` on the monitors (or the mgr for mgr commands).

        Returns the parsed JSON answer (``None`` when empty). A negative return code raises
        :class:`EngineError` unless its errno is in ``allow_errno``, in which case ``None`` is returned.
        """
        cmd = {"prefix": prefix, "format": "json"}
        cmd.update({k: v for k, v in args.items() if v is not None})
        self.round_trips += 1
        ret, out, status = self.rados.mon_command(json.dumps(cmd), b"", timeout=self.timeout)
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


def open_session(params):
    """A :class:`CephSession` from a module's connection options."""
    return CephSession(
        cluster=params["cluster"],
        conf=params.get("conf"),
        user=params["user"],
        keyring=params.get("keyring"),
        timeout=params["timeout"],
    )
