# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RabbitMQ engine: ``rabbitmqctl`` on the broker's node, argv lists only.

:data:`RABBITMQ` is the engine of every RabbitMQ module: the shared options ``node`` and
``rabbitmqctl`` (``RABBITMQ_CONNECTION_SPEC``, documented once by the doc fragment
``scloud.stack.rabbitmq``; action group ``scloud.stack.rabbitmq``) and one :class:`CtlSession` per
task. Passwords go to ``rabbitmqctl`` on its stdin, never in a process list.
"""

from __future__ import annotations

import json
import os

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Engine

_PACKAGE = "Debian package rabbitmq-server"
RABBITMQ_CONNECTION_SPEC = {
    "node": {"type": "str"},
    "rabbitmqctl": {"type": "path", "default": "/usr/sbin/rabbitmqctl"},
}


class CtlSession:
    """``rabbitmqctl`` of one node through the module's ``run_command`` (no shell)."""

    def __init__(self, module):
        self.run_command = module.run_command
        self.argv = [module.params["rabbitmqctl"], "--quiet"]
        if module.params["node"]:
            self.argv += ["-n", module.params["node"]]
        self.calls = 0

    def run(self, *args, stdin=None, check=True):
        """Run one command; return (rc, stdout). ``stdin`` (a secret) is never logged or shown."""
        if not os.access(self.argv[0], os.X_OK):
            raise EngineError(f"rabbitmqctl: {self.argv[0]} is not an executable ({_PACKAGE})")
        self.calls += 1
        rc, out, err = self.run_command(self.argv + list(args), data=stdin, binary_data=False)
        if check and rc != 0:
            raise EngineError(f"rabbitmqctl {args[0]} failed (rc {rc}): {(err or out).strip()[:2000]}", rc=rc)
        return rc, out

    def json(self, *args):
        _rc, out = self.run(*args, "--formatter", "json")
        out = out.strip()
        return json.loads(out) if out else []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class RabbitmqEngine(Engine):
    name = "rabbitmq"
    connection_spec = RABBITMQ_CONNECTION_SPEC

    def require(self):
        return None

    def open(self, module):
        path = module.params["rabbitmqctl"]
        # In check mode the package may not be installed yet (a first deployment's --check): the
        # operation then predicts from an empty broker.
        if not module.check_mode and not os.access(path, os.X_OK):
            raise MissingLibraryError(f"rabbitmqctl: {path} is not an executable ({_PACKAGE})")
        return CtlSession(module)

    def report(self, session):
        return {"rabbitmqctl_calls": session.calls}


RABBITMQ = RabbitmqEngine()
