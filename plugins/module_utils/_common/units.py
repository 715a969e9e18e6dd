# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes as operators write them ("10G", "512M", 1073741824) normalised to bytes."""

from __future__ import annotations

import re

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

# Binary multiples, as Ceph, libvirt and qemu-img mean them ("10G" is 10 GiB).
_MULTIPLIERS = {
    "": 1,
    "B": 1,
    "K": 1024,
    "KB": 1024,
    "KIB": 1024,
    "M": 1024**2,
    "MB": 1024**2,
    "MIB": 1024**2,
    "G": 1024**3,
    "GB": 1024**3,
    "GIB": 1024**3,
    "T": 1024**4,
    "TB": 1024**4,
    "TIB": 1024**4,
    "P": 1024**5,
    "PB": 1024**5,
    "PIB": 1024**5,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value, option="size", minimum=0):
    """Return ``value`` in bytes; raise :class:`ValidationError` naming ``option`` otherwise."""
    if isinstance(value, bool):
        raise ValidationError(option, f"{value!r} is not a size (use bytes or a suffix K, M, G, T, P)")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE_RE.match(str(value))
        if not match:
            raise ValidationError(option, f"{value!r} is not a size (use bytes or a suffix K, M, G, T, P)")
        unit = match.group(2).upper()
        if unit not in _MULTIPLIERS:
            raise ValidationError(
                option, f"{value!r} has an unknown unit {match.group(2)!r} (use K, M, G, T or P)"
            )
        number = int(float(match.group(1)) * _MULTIPLIERS[unit])
    if number < minimum:
        raise ValidationError(option, f"{value!r} must be >= {minimum} bytes")
    return number


def format_size(num_bytes):
    """Short human form of a byte count, exact when it is a whole multiple."""
    for unit in ("P", "T", "G", "M", "K"):
        mult = _MULTIPLIERS[unit]
        if num_bytes >= mult and num_bytes % mult == 0:
            return f"{num_bytes // mult}{unit}"
    return str(num_bytes)
