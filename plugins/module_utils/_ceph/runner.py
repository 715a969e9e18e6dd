# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shape of every Ceph module: validate, open one session, converge, report."""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import (
    open_session,
    require_library,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    ScloudError,
    fail_from_exception,
)


def run(module, validate, converge, need_rbd=False):
    """``validate(params)`` runs before any connection (bad input touches nothing);
    ``converge(session, params, check_mode)`` returns the result dict, ``diff`` included."""
    require_library(module, need_rbd=need_rbd)
    try:
        validate(module.params)
        with open_session(module.params) as session:
            result = converge(session, module.params, module.check_mode)
            result["mon_round_trips"] = session.round_trips
    except ScloudError as exc:
        fail_from_exception(module, exc)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)
