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


def run_tasks(tasks, **kw):
    """Run ``[(module, args), ...]`` as one play; fail on the first failed task. Returns results."""
    return _play([{"name": f"case {i}", module: args} for i, (module, args) in enumerate(tasks)], **kw)


def run_cases(module, cases, **kw):
    """Run one task per ``args`` of ``cases`` in ONE playbook (ignore_errors), for bad-input tables.

    Returns one TaskResult per case, in order. One ansible-playbook start instead of one per case
    keeps the tier fast; every case still reaches the module on its own.
    """
    return _play([{"name": f"case {i}", module: args, "ignore_errors": True} for i, args in enumerate(cases)],
                 **kw)


def _play(tasks, **kw):
    import json
    import os
    import tempfile

    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="scloud-cases-", delete=False) as fh:
        json.dump(play, fh)
        path = fh.name
    try:
        run = harness.run_playbook(path, envvars=ENV, diff=True, **kw)
    finally:
        os.unlink(path)
    by_name = {}
    for ev in run.events:
        if ev.get("event") in ("runner_on_ok", "runner_on_failed"):
            data = ev["event_data"]
            res = data.get("res", {}) or {}
            by_name[data.get("task")] = harness.TaskResult(
                changed=bool(res.get("changed")), failed=ev["event"] == "runner_on_failed",
                msg=res.get("msg"), result=res, status=run.status)
    missing = [i for i in range(len(tasks)) if f"case {i}" not in by_name]
    if missing:
        raise AssertionError(f"cases {missing} did not run:\n{run.stdout[-3000:]}")
    return [by_name[f"case {i}"] for i in range(len(tasks))]


def assert_refused(results, expectations):
    """Each result failed with a message starting ``option:`` and containing ``words``."""
    for result, (option, words) in zip(results, expectations, strict=True):
        assert result.failed, f"expected {option!r} to be refused, got {result.result}"
        assert result.msg.startswith(f"{option}:") and words in result.msg, result.msg
