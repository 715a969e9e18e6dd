"""``run_module`` for the libvirt tests, working around two gaps of ``tests/harness.py``.

- The harness sets ``ANSIBLE_CALLBACKS_ENABLED=""``, which ansible-core 2.19 reads as one plugin
  with an empty name and refuses: a real one is passed instead.
- ``TaskResult.failed`` is read from ``event_data``, which has no ``event`` key and, for a
  ``fail_json``, no ``failed`` key either: a failure reads as success. Here the runner's event type
  (``runner_on_failed``) decides.
"""

from __future__ import annotations

import json
import os
import tempfile

from tests.harness import TaskResult, run_playbook

ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}


def run_module(module, args=None, *, check=False, diff=True, timeout=900):
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "module", module: args or {}}]}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="scloudt-task-", delete=False) as fh:
        json.dump(play, fh)
        path = fh.name
    try:
        run = run_playbook(path, check=check, diff=diff, envvars=ENV, timeout=timeout)
    finally:
        os.unlink(path)
    for ev in run.events:
        if ev.get("event") not in ("runner_on_ok", "runner_on_failed"):
            continue
        if ev["event_data"].get("task") == "module":
            res = ev["event_data"].get("res", {}) or {}
            diff_val = res.get("diff", [])
            return TaskResult(
                changed=bool(res.get("changed")),
                failed=ev["event"] == "runner_on_failed" or bool(res.get("failed")),
                msg=res.get("msg"),
                result=res,
                diff=[diff_val] if isinstance(diff_val, dict) else diff_val,
                status=run.status,
                stdout=run.stdout,
            )
    raise RuntimeError(f"the task did not run (status {run.status}):\n{run.stdout[-4000:]}")
