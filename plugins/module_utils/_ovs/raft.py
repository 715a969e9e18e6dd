# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ovn_raft_member``: this node's server in the RAFT cluster of an OVN database.

Membership is driven through the server's own control socket (``ovs.unixctl``, the Python side of
``ovn-appctl``): ``cluster/status`` to read, ``cluster/leave`` to leave. A server joins its cluster
when the ``ovn_central`` role creates its database with ``ovsdb-tool join-cluster``; a server that
has left cannot come back with the same database (it removes it when the leave completes).

:data:`OVSDB_CTL` is the engine: one unixctl client per task, to the socket of ``database``.
"""

from __future__ import annotations

import os
import re
import time

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError, ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Engine
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import require_ovs

try:
    from ovs.unixctl import client as unixctl
except ImportError:  # reported by require_ovs()
    unixctl = None

DATABASES = {"OVN_Northbound": "nb", "OVN_Southbound": "sb"}
OVSDB_CTL_SPEC = {
    "ctl": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
}
_SERVER_RE = re.compile(r"^\s+(\w+) \((\w+) at ([^)]+)\)")


def default_ctl(database):
    return f"/var/run/ovn/ovn{DATABASES[database]}_db.ctl"


class CtlSession:
    """One unixctl connection to an ovsdb-server."""

    def __init__(self, path, timeout):
        if not os.path.exists(path):
            raise EngineError(
                f"no control socket {path}: the database server is not running on this "
                "node (a server leaves its cluster itself; start it first)"
            )
        error, self.client = unixctl.UnixctlClient.create(path)
        if error:
            raise EngineError(f"cannot connect to {path}: {os.strerror(error)}")
        self.path = path
        self.timeout = timeout
        self.calls = 0

    def call(self, command, *args):
        """(error text or None, result text)."""
        self.calls += 1
        error, err_text, result = self.client.transact(command, list(args))
        if error:
            raise EngineError(f"{command} on {self.path}: {os.strerror(error)}")
        return err_text, result

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class OvsdbCtlEngine(Engine):
    name = "ovsdb-ctl"
    connection_spec = OVSDB_CTL_SPEC

    def require(self):
        require_ovs()

    def open(self, module):
        params = module.params
        return CtlSession(params.get("ctl") or default_ctl(params["database"]), params["timeout"])

    def report(self, session):
        return {"ctl_calls": session.calls}


OVSDB_CTL = OvsdbCtlEngine()


def validate_params(params):
    if params["timeout"] < 1:
        raise ValidationError("timeout", f"{params['timeout']} is not a number of seconds (1 or more)")


def parse_status(text):
    """The fields of ``cluster/status`` this module reports."""
    fields, servers = {}, []
    in_servers = False
    for line in text.splitlines():
        if line.startswith("Servers:"):
            in_servers = True
            continue
        if in_servers:
            match = _SERVER_RE.match(line)
            if match:
                servers.append({"sid": match.group(1), "address": match.group(3), "self": "(self)" in line})
            continue
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value.strip()
    return {
        "status": fields.get("Status"),
        "role": fields.get("Role"),
        "address": fields.get("Address"),
        "cluster_id": fields.get("Cluster ID", "").split(" ")[0] or None,
        "server_id": fields.get("Server ID", "").split(" ")[0] or None,
        "servers": servers,
    }


def read(session, database):
    """This server's membership, or ``{"status": "left"}`` when it serves no such cluster."""
    error, text = session.call("cluster/status", database)
    if error:
        if "unknown cluster" in error or "not a clustered database" in error:
            return {"status": "left"} if "unknown cluster" in error else {"status": "standalone"}
        raise EngineError(f"cluster/status {database}: {error.strip()}")
    return parse_status(text)


def converge(session, params, check_mode):
    database = params["database"]
    current = read(session, database)
    if current["status"] == "standalone":
        raise ValidationError("database", f"{database} on this node is not a clustered database")
    if params["state"] == "present":
        if current["status"] != "cluster member":
            raise ValidationError(
                "state",
                f"this server is not a member of the {database} cluster "
                f"(status: {current['status']}); a server that left cannot join with the "
                "same database: remove its file and let the ovn_central role join it anew",
            )
        return {"changed": False, "member": current, "diff": make_diff(current, current)}
    if current["status"] == "left":
        return {"changed": False, "member": current, "diff": make_diff(current, current)}
    after = {"status": "left"}
    if check_mode:
        return {"changed": True, "member": after, "diff": make_diff(current, after)}
    if current["status"] == "cluster member":
        error, _text = session.call("cluster/leave", database)
        if error:
            raise EngineError(f"cluster/leave {database}: {error.strip()}")
    # The leave completes when the other members have committed the new configuration; the server
    # then drops the database.
    deadline = time.monotonic() + session.timeout
    while True:
        now = read(session, database)
        if now["status"] == "left":
            break
        if time.monotonic() > deadline:
            raise EngineError(
                f"{database}: the server did not finish leaving within {session.timeout}s "
                f"(status: {now['status']}); are the other members up and is there a leader?"
            )
        time.sleep(0.2)
    return {"changed": True, "member": now, "diff": make_diff(current, now)}
