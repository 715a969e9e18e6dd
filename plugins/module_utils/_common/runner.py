# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way every module of the collection runs, whatever its engine.

A module's ``main()`` builds its ``AnsibleModule`` from its engine's shared options plus its own,
then hands over::

    module = AnsibleModule(argument_spec=CEPH.argument_spec(name=...), supports_check_mode=True)
    run_module(module, CEPH, Operation(pool.converge, validate=pool.validate_params))

:func:`run_module` then does the same four steps for Ceph, libvirt and OVSDB alike:

1. ``engine.require()``: the engine's Python bindings are importable on the target;
2. ``operation.validate(params)``: checks that need no engine, before anything is opened, so bad
   input touches nothing (a :class:`ValidationError` names the option and the rule);
3. ``engine.open(module)``: the task's ONE session (librados, libvirt, OVSDB IDL), closed at the end;
4. ``operation.converge(session, params, check_mode)``: read, compare, apply unless in check mode
   (where it predicts); it returns ``changed``, the resulting object (also when unchanged), what was
   or would be sent (``commands``, ``actions``) and ``diff``.

Every :class:`ScloudError` (and every error the engine's binding raises that got past the engine
code) becomes ``fail_json`` here, and only here. ``diff`` is returned with ``--diff`` only.
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ScloudError


class Engine:
    """One kind of connection: its shared options (documented by one doc fragment), the bindings it
    needs on the target and how a task opens its one session. Each engine package has one instance
    (``CEPH``, ``LIBVIRT``, ``OVSDB``); the action group of ``meta/runtime.yml`` of the same name
    lets ``module_defaults`` set these options once for every module of the engine."""

    name = ""
    connection_spec = {}
    required_together = []
    # Exceptions of the engine's binding that engine code did not translate: reported as
    # "<name>: <message>" instead of a module traceback.
    native_errors = ()

    def argument_spec(self, **module_options):
        """The module's own options plus the engine's connection options."""
        spec = dict(self.connection_spec)
        spec.update(module_options)
        return spec

    def require(self, **session_options):
        """Raise :class:`MissingLibraryError` when a binding the task needs is not importable."""
        return None

    def open(self, module, **session_options):
        """The task's one session, usable as a context manager (closed when the task ends)."""
        raise NotImplementedError

    def report(self, session):
        """Fields the session adds to every result (for example the monitor round trips)."""
        return {}


class Operation:
    """What one module does: ``validate`` then ``converge``; one instance per task.

    Give the two functions (``Operation(converge, validate=...)``) or subclass it when the two steps
    share state (an OVSDB resource validated once, then read and written). ``session_options`` are
    handed to ``engine.require`` and ``engine.open`` (the OVSDB tables to replicate, the rbd binding).
    """

    def __init__(self, converge=None, validate=None, **session_options):
        self._converge = converge
        self._validate = validate
        self.session_options = session_options

    def validate(self, params):
        """Checks of the options that need no engine; raise :class:`ValidationError`."""
        if self._validate is not None:
            self._validate(params)

    def converge(self, session, params, check_mode):
        """Read, compare, apply (or predict in check mode); return the result dict."""
        return self._converge(session, params, check_mode)


def run_module(module, engine, operation):
    """Run ``operation`` for ``module`` over one session of ``engine``; exit or fail the module."""
    try:
        engine.require(**operation.session_options)
        operation.validate(module.params)
        with engine.open(module, **operation.session_options) as session:
            result = operation.converge(session, module.params, module.check_mode)
            result.update(engine.report(session))
    except ScloudError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
        return
    except engine.native_errors as exc:  # pylint: disable=catching-non-exception
        module.fail_json(msg=f"{engine.name}: {exc}")
        return
    if not module._diff:  # pylint: disable=protected-access
        result.pop("diff", None)
    module.exit_json(**result)
