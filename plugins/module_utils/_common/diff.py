# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare normalised desired and current state; build the ``diff`` Ansible shows."""

from __future__ import annotations


def changed_fields(current, desired):
    """Names of the keys of ``desired`` whose value differs in ``current``.

    ``None`` in ``desired`` means "not managed": the field is left as it is.
    """
    current = current or {}
    return sorted(k for k, v in desired.items() if v is not None and current.get(k) != v)


def make_diff(before, after):
    """The ``diff`` dict for ``--diff``: before/after of the object, ``{}`` when absent."""
    return {"before": before if before is not None else {}, "after": after if after is not None else {}}


def merged(current, desired):
    """``current`` with the managed fields of ``desired`` applied (the predicted result)."""
    result = dict(current or {})
    result.update({k: v for k, v in desired.items() if v is not None})
    return result
