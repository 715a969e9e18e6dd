"""``run_module`` with an environment that works around the harness's empty callback list.

``tests/harness.py`` sets ``ANSIBLE_CALLBACKS_ENABLED=""``, which ansible-core 2.19 reads as one
plugin with an empty name and refuses; until the harness is fixed, the libvirt tests pass a real one.
"""

from __future__ import annotations

from tests.harness import run_module as _run_module

ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}


def run_module(module, args=None, **kw):
    kw.setdefault("envvars", ENV)
    return _run_module(module, args, **kw)
