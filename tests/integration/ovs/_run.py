"""The shared harness, with a valid callback list.

``tests/harness.py`` sets ``ANSIBLE_CALLBACKS_ENABLED=""``, which ansible-core 2.19 rejects
("A non-empty plugin name is required"); until the harness is fixed, the OVS/OVN tests pass the
callback ansible.cfg enables anyway, and read a failure from the play's status.
"""

from __future__ import annotations

from tests import harness

ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}


def run_module(module, args=None, **kw):
    kw.setdefault("envvars", ENV)
    result = harness.run_module(module, args, **kw)
    # The runner's ok/failed event type is not kept by the harness, and 2.19 drops ``failed`` from
    # the event's result: a one-task play that failed has the status "failed".
    result.failed = result.failed or result.status == "failed"
    return result


def converge(module, args, **kw):
    runs = {}
    for name, check in (("check", True), ("apply", False), ("check_again", True), ("apply_again", False)):
        runs[name] = run_module(module, args, check=check, **kw)
        if runs[name].failed:
            raise AssertionError(f"{module} {name} failed: {runs[name].msg}\n{runs[name].result}")
    return runs
