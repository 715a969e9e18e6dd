# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception family for every module; only the runner (``_common/runner.py``) turns it into
``fail_json``."""

from __future__ import annotations


class ScloudError(Exception):
    """Base of every domain error raised by module_utils.

    ``details`` is merged into the ``fail_json`` result so callers can read the cause
    (for example the option that was rejected) without parsing the message.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class ValidationError(ScloudError):
    """Bad input: raised before anything on the engine is touched."""

    def __init__(self, option, rule, **details):
        super().__init__(f"{option}: {rule}", option=option, **details)
        self.option = option
        self.rule = rule


class EngineError(ScloudError):
    """The engine refused or failed an operation."""


class MissingLibraryError(ScloudError):
    """A Python binding of the engine is not importable on the target."""
