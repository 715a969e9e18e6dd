# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one libvirt connection a task opens.

:data:`LIBVIRT` is the engine of every libvirt module: the shared option ``uri``
(``LIBVIRT_CONNECTION_SPEC``, documented once by the doc fragment ``scloud.stack.libvirt``; action
group ``scloud.stack.libvirt``) and one :class:`LibvirtSession` per task, through which every read and
write goes.
"""

from __future__ import annotations

import traceback

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Engine

try:
    import libvirt

    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    libvirt = None
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()


LIBVIRT_CONNECTION_SPEC = {
    "uri": {"type": "str", "default": "qemu:///system"},
}


def _silence(_ctx, _err):
    # libvirt prints every error to stderr by default; errors reach us as exceptions instead.
    return None


def connect(uri):
    """Open a connection to ``uri``; raise :class:`EngineError` when it fails."""
    libvirt.registerErrorHandler(_silence, None)
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise EngineError(f"uri: cannot connect to {uri}: {exc}", uri=uri) from exc


class LibvirtSession:
    """The task's libvirt connection (``conn``) and the module's ``run_command`` (argv lists), for
    the few host commands a domain's NICs need (``ovs-vsctl``, ``ovn-sbctl``)."""

    def __init__(self, uri, run_command=None):
        self.conn = connect(uri)
        self.run_command = run_command

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LibvirtEngine(Engine):
    name = "libvirt"
    connection_spec = LIBVIRT_CONNECTION_SPEC
    native_errors = (libvirt.libvirtError,) if HAS_LIBVIRT else ()

    def require(self):
        from ansible.module_utils.basic import missing_required_lib

        if not HAS_LIBVIRT:
            raise MissingLibraryError(
                missing_required_lib("libvirt (Debian package python3-libvirt)"),
                exception=LIBVIRT_IMPORT_ERROR,
            )

    def open(self, module):
        return LibvirtSession(module.params["uri"], run_command=module.run_command)


LIBVIRT = LibvirtEngine()
