"""Caller data is data: the job's variables reach Ansible so that it never templates them.

Every string a caller sends (job ``extra_vars``, resource specs turned into variables), at any depth
of lists and objects, keys included, is written to the runner's ``env/extravars`` as YAML tagged
``!unsafe``. ansible-core (2.19 included) loads such a value as data: ``{{ ... }}`` and ``{% ... %}``
stay literal text wherever a playbook uses them, so no ``lookup('pipe', ...)`` or ``lookup('env', ...)``
from a caller ever runs. The file also keeps the variables off the ansible-playbook command line,
where ansible-runner would put them as JSON (visible to every local user in ``ps``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

UNSAFE_TAG = "!unsafe"


class _UnsafeDumper(yaml.SafeDumper):
    """YAML with every string, key or value, tagged ``!unsafe``."""


def _unsafe_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Double-quoted: every character survives (quotes, newlines, '#', leading spaces, unicode).
    return dumper.represent_scalar(UNSAFE_TAG, value, style='"')


_UnsafeDumper.add_representer(str, _unsafe_str)
# No anchors/aliases: each value written in full where it is used.
_UnsafeDumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]


def dump_unsafe(values: dict[str, Any]) -> str:
    return yaml.dump(values, Dumper=_UnsafeDumper, allow_unicode=True, sort_keys=True, width=2**16)


def write_extravars(private_data_dir: Path, values: dict[str, Any]) -> Path:
    """Write ``env/extravars`` (mode 0600) that ansible-runner passes as ``-e @env/extravars``."""
    env_dir = private_data_dir / "env"
    env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = env_dir / "extravars"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dump_unsafe(values))
    return path
