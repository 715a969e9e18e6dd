# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The attributes every state module of the collection declares, documented once."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Predicts exactly what a real run changes; nothing is written.
    support: full
  diff_mode:
    description: Before and after of the object.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
"""
