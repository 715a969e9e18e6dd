# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one libvirt connection a task opens.

``LIBVIRT_CONNECTION_SPEC`` is the shared argument spec, documented once by the doc fragment
``scloud.stack.libvirt``. Every read and write of a task goes through one :func:`connect`.
"""

from __future__ import annotations

import traceback

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError

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


def libvirt_argument_spec(**module_options):
    """The module's own options plus the shared connection option ``uri``."""
    spec = dict(LIBVIRT_CONNECTION_SPEC)
    spec.update(module_options)
    return spec


def require_library(module):
    """Fail with the Debian package to install when libvirt-python is missing on the target."""
    from ansible.module_utils.basic import missing_required_lib

    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt (Debian package python3-libvirt)"),
                         exception=LIBVIRT_IMPORT_ERROR)


def _silence(_ctx, _err):
    # libvirt prints every error to stderr by default; errors reach us as exceptions instead.
    return None


def connect(uri):
    """Open the task's one connection to ``uri``; raise :class:`EngineError` when it fails."""
    libvirt.registerErrorHandler(_silence, None)
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise EngineError(f"uri: cannot connect to {uri}: {exc}", uri=uri) from exc
