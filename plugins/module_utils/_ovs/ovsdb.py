# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One OVSDB session per task, through the Open vSwitch Python IDL (Debian ``python3-openvswitch``).

Every ``ovs_*`` and ``ovn_*`` module runs on the engine :data:`OVSDB` (shared options
:data:`OVSDB_ARGUMENT_SPEC`, documented by the ``scloud.stack.ovsdb`` doc fragment) with a
:class:`ResourceOperation` of its :class:`Resource`: read the current object from the IDL's replica,
plan the change, then write it in ONE transaction; if the database moved under us (``TRY_AGAIN``),
read and plan again.
"""

from __future__ import annotations

import errno
import time

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    MissingLibraryError,
    ValidationError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Engine, Operation

try:
    import ovs.db.idl
    import ovs.jsonrpc
    import ovs.poller
    import ovs.stream
    import ovs.timeval
    import ovs.vlog

    HAS_OVS = True
    OVS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the target
    HAS_OVS = False
    OVS_IMPORT_ERROR = exc

DEFAULT_REMOTES = {
    "Open_vSwitch": "unix:/var/run/openvswitch/db.sock",
    "OVN_Northbound": "unix:/var/run/ovn/ovnnb_db.sock",
    "OVN_Southbound": "unix:/var/run/ovn/ovnsb_db.sock",
}

OVSDB_ARGUMENT_SPEC = {
    "ovsdb_remote": {"type": "str"},
    "ovsdb_timeout": {"type": "int", "default": 30},
    "ovsdb_ssl_key": {"type": "path"},
    "ovsdb_ssl_cert": {"type": "path"},
    "ovsdb_ssl_ca_cert": {"type": "path"},
}
OVSDB_REQUIRED_TOGETHER = [("ovsdb_ssl_key", "ovsdb_ssl_cert", "ovsdb_ssl_ca_cert")]

_MAX_ATTEMPTS = 5


def require_ovs():
    if not HAS_OVS:
        raise MissingLibraryError(
            "the Open vSwitch Python IDL (Debian package python3-openvswitch) is required: "
            f"{OVS_IMPORT_ERROR}"
        )


class Session:
    """An IDL replica of the tables a module needs, and transactions on it."""

    def __init__(self, database, tables, remote=None, timeout=30, ssl=None):
        require_ovs()
        self.database = database
        self.remote = remote or DEFAULT_REMOTES[database]
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout
        # The IDL logs through vlog to stderr by default; a module's stderr must stay clean.
        ovs.vlog.Vlog.set_levels_from_string("ANY:console:off")
        if ssl:
            ovs.stream.Stream.ssl_set_private_key_file(ssl["key"])
            ovs.stream.Stream.ssl_set_certificate_file(ssl["cert"])
            ovs.stream.Stream.ssl_set_ca_cert_file(ssl["ca_cert"])
        helper = ovs.db.idl.SchemaHelper(None, self._fetch_schema())
        # ``tables`` is a list of table names, or {table: [columns]} to replicate only those columns
        # (an Interface row carries statistics and status a module never reads).
        for table in tables:
            columns = tables[table] if isinstance(tables, dict) else None
            if columns:
                helper.register_columns(table, columns)
            else:
                helper.register_table(table)
        self.idl = ovs.db.idl.Idl(self.remote, helper, leader_only=True)
        self._run_until(lambda: self.idl.state == self.idl.IDL_S_MONITORING, "reading the database")

    # -- plumbing --------------------------------------------------------------------------------
    def _remaining_ms(self, what):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise EngineError(
                f"OVSDB {self.database} at {self.remote}: timed out after {self.timeout}s {what}",
                remote=self.remote,
            )
        return int(left * 1000)

    def _fetch_schema(self):
        errors = []
        for remote in self.remote.split(","):
            remote = remote.strip()
            error, stream = ovs.stream.Stream.open_block(
                ovs.stream.Stream.open(remote), self._remaining_ms("connecting")
            )
            if error:
                errors.append(f"{remote}: {errno.errorcode.get(error, error)}")
                continue
            rpc = ovs.jsonrpc.Connection(stream)
            try:
                rpc.send(ovs.jsonrpc.Message.create_request("get_schema", [self.database]))
                while True:
                    error, msg = rpc.recv()
                    if error == errno.EAGAIN:
                        poller = ovs.poller.Poller()
                        rpc.wait(poller)
                        rpc.recv_wait(poller)
                        poller.timer_wait(self._remaining_ms("reading the schema"))
                        poller.block()
                        continue
                    if error:
                        errors.append(f"{remote}: {errno.errorcode.get(error, error)}")
                        break
                    if msg.error:
                        errors.append(f"{remote}: {msg.error}")
                        break
                    return msg.result
            finally:
                rpc.close()
        raise EngineError(
            f"cannot reach OVSDB {self.database} at {self.remote}: {'; '.join(errors)}", remote=self.remote
        )

    def _run_until(self, done, what):
        while True:
            self.idl.run()
            if done():
                return
            poller = ovs.poller.Poller()
            self.idl.wait(poller)
            poller.timer_wait(min(self._remaining_ms(what), 500))
            poller.block()

    def table(self, name):
        return self.idl.tables[name].rows.values()

    def find(self, table, **match):
        return [r for r in self.table(table) if all(getattr(r, k) == v for k, v in match.items())]

    def find_one(self, table, **match):
        rows = self.find(table, **match)
        return rows[0] if rows else None

    def transact(self, apply, comment=None):
        """Run ``apply(txn)`` and commit. True on success, False when the database moved (retry)."""
        txn = ovs.db.idl.Transaction(self.idl)
        if comment:
            txn.add_comment(comment)
        apply(txn)
        while True:
            status = txn.commit()
            if status != txn.INCOMPLETE:
                break
            self.idl.run()
            poller = ovs.poller.Poller()
            self.idl.wait(poller)
            txn.wait(poller)
            poller.timer_wait(min(self._remaining_ms("committing"), 500))
            poller.block()
        if status in (txn.SUCCESS, txn.UNCHANGED):
            self.last_txn = txn
            return True
        if status == txn.TRY_AGAIN:
            return False
        raise EngineError(
            f"OVSDB {self.database} transaction failed ({txn.status_to_string(status)}): "
            f"{txn.get_error() or 'no detail'}",
            remote=self.remote,
        )

    def wait(self, done, what):
        """Let the replica catch up until ``done()`` (e.g. ovs-vswitchd reported cur_cfg)."""
        self._run_until(done, what)

    def close(self):
        self.idl.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connection_params(params):
    ssl = None
    if params.get("ovsdb_ssl_key"):
        ssl = {
            "key": params["ovsdb_ssl_key"],
            "cert": params["ovsdb_ssl_cert"],
            "ca_cert": params["ovsdb_ssl_ca_cert"],
        }
    return {"remote": params.get("ovsdb_remote"), "timeout": params["ovsdb_timeout"], "ssl": ssl}


class Resource:
    """What a module manages. Subclasses fill in the four steps.

    - ``validate()``: pure checks of ``params`` (no engine); raise ValidationError.
    - ``read(session)``: the current object as a plain normalised dict, or None when absent.
    - ``plan(session, current)``: the object as it must be after the task (None when absent);
      checks that need the database (overlaps, references) raise ValidationError here.
    - ``apply(session, txn, current, after)``: write the difference in the transaction.
    """

    database = "Open_vSwitch"
    tables = ()
    result_key = "object"

    def __init__(self, params):
        self.params = params
        # Shared by the resources of one batch task: what earlier items of the batch have taken
        # (addresses, MACs) or created in the transaction being built.
        self.pending = {}

    def validate(self):
        return None

    def read(self, session):
        raise NotImplementedError

    def plan(self, session, current):
        raise NotImplementedError

    def apply(self, session, txn, current, after):
        raise NotImplementedError

    def after_commit(self, session, after):
        """Optional wait once the transaction is committed (for example for ovs-vswitchd)."""
        return None

    def comment(self):
        return f"scloud.stack: {type(self).__name__} {self.params.get('name')}"


def converge(resource, session, check_mode):
    """Read, plan and (unless ``check_mode``) apply; returns ``(changed, before, after)``."""
    for _attempt in range(_MAX_ATTEMPTS):
        # What an attempt planned is not the database's: a retry must not find its own choices taken.
        resource.pending = {}
        current = resource.read(session)
        after = resource.plan(session, current)
        changed = after != current
        if not changed or check_mode:
            return changed, current, after
        if session.transact(
            lambda txn, c=current, a=after: resource.apply(session, txn, c, a), resource.comment()
        ):
            resource.after_commit(session, after)
            return True, current, after
        # TRY_AGAIN: someone else changed what we verified; read the new state and plan again.
        session.wait(lambda: True, "refreshing")
    raise EngineError(
        f"OVSDB {resource.database}: the database kept changing, gave up after {_MAX_ATTEMPTS} attempts"
    )


def validate_batch(resources):
    """Each item's checks, its option named ``items[<index>].<option>``; names listed once."""
    names = [r.params.get("name") for r in resources]
    for index, resource in enumerate(resources):
        if names.count(resource.params.get("name")) > 1:
            raise ValidationError(f"items[{index}].name", f"{resource.params.get('name')} is listed twice")
        try:
            resource.validate()
        except ValidationError as exc:
            raise ValidationError(f"items[{index}].{exc.option}", exc.rule) from None


def converge_batch(resources, session, check_mode):
    """Several objects of one kind in ONE session and ONE transaction.

    Returns ``[(changed, before, after), ...]`` in the order of ``resources``.
    """
    first = resources[0]
    for _attempt in range(_MAX_ATTEMPTS):
        pending = {}
        plans = []
        for index, resource in enumerate(resources):
            resource.pending = pending
            current = resource.read(session)
            try:
                after = resource.plan(session, current)
            except ValidationError as exc:
                raise ValidationError(f"items[{index}].{exc.option}", exc.rule) from None
            plans.append((resource, current, after))
        results = [(c != a, c, a) for _r, c, a in plans]
        todo = [(r, c, a) for r, c, a in plans if c != a]
        if not todo or check_mode:
            return results

        def apply(txn, todo=todo):
            for resource, current, after in todo:
                resource.apply(session, txn, current, after)

        if session.transact(apply, f"scloud.stack: {type(first).__name__} x{len(todo)}"):
            first.after_commit(session, None)
            return results
        session.wait(lambda: True, "refreshing")
    raise EngineError(
        f"OVSDB {first.database}: the database kept changing, gave up after {_MAX_ATTEMPTS} attempts"
    )


class OvsdbEngine(Engine):
    """How an ``ovs_*``/``ovn_*`` module connects: ``OVSDB_ARGUMENT_SPEC``, one IDL :class:`Session`
    of the resource's database and tables per task."""

    name = "ovsdb"
    connection_spec = OVSDB_ARGUMENT_SPEC
    required_together = OVSDB_REQUIRED_TOGETHER

    def require(self, database=None, tables=()):
        require_ovs()

    def open(self, module, database, tables):
        return Session(database, tables, **connection_params(module.params))


OVSDB = OvsdbEngine()


class ResourceOperation(Operation):
    """An OVSDB module for the runner: one object of ``resource_cls`` (its options), or, when the
    module has a list option ``items_key`` and it is set, several of them in one transaction.

    Each item of the list is a dict of the module's per-object options; ``shared_keys`` are copied
    from the module's parameters into every item, as are the connection options.
    """

    def __init__(self, resource_cls, items_key=None, shared_keys=()):
        super().__init__(database=resource_cls.database, tables=resource_cls.tables)
        self.resource_cls = resource_cls
        self.items_key = items_key
        self.shared_keys = shared_keys
        self.resources = []
        self.batch = False

    def validate(self, params):
        self.batch = bool(self.items_key and params.get(self.items_key))
        if not self.batch:
            self.resources = [self.resource_cls(params)]
            self.resources[0].validate()
            return
        base = {k: params.get(k) for k in OVSDB_ARGUMENT_SPEC}
        base.update({k: params.get(k) for k in self.shared_keys})
        self.resources = [self.resource_cls({**base, **item}) for item in params[self.items_key]]
        validate_batch(self.resources)

    def converge(self, session, params, check_mode):
        if not self.batch:
            resource = self.resources[0]
            changed, before, after = converge(resource, session, check_mode)
            return {"changed": changed, resource.result_key: after or {}, "diff": make_diff(before, after)}
        results = converge_batch(self.resources, session, check_mode)
        pairs = [
            (r.params["name"], before, after)
            for r, (_c, before, after) in zip(self.resources, results, strict=True)
        ]
        return {
            "changed": any(changed for changed, _b, _a in results),
            self.items_key: [after or {} for _c, _b, after in results],
            "diff": make_diff(
                {n: b for n, b, _a in pairs if b is not None}, {n: a for n, _b, a in pairs if a is not None}
            ),
        }
