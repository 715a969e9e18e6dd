# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ceph_mon_member``: one monitor's place in the monitor map.

A monitor joins the map when the ``ceph_mon`` role starts it (its daemon is created from the map
and announces itself); it leaves with ``mon remove``, sent here while it still runs, one monitor at
a time, so the monitors that stay keep a quorum (3 -> 2 -> 1). The last monitor is never removed.
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph.crush import check_host_name
from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError


def validate_params(params):
    check_host_name("name", params["name"], "monitor name")


def read(session, name):
    status = session.mon_command("quorum_status") or {}
    monitors = [m["name"] for m in status.get("monmap", {}).get("mons", [])]
    quorum = list(status.get("quorum_names", []))
    return {
        "name": name,
        "in_map": name in monitors,
        "in_quorum": name in quorum,
        "monitors": monitors,
        "quorum": quorum,
    }


def converge(session, params, check_mode):
    name = params["name"]
    current = read(session, name)
    if params["state"] == "present":
        if not current["in_map"]:
            raise ValidationError(
                "name",
                f"monitor {name} is not in the monitor map (monitors: "
                f"{', '.join(current['monitors'])}): a monitor joins when the ceph_mon "
                "role starts it",
            )
        return {"changed": False, "monitor": current, "commands": [], "diff": make_diff(current, current)}
    if not current["in_map"]:
        return {"changed": False, "monitor": current, "commands": [], "diff": make_diff(current, current)}
    if current["monitors"] == [name]:
        raise ValidationError(
            "state", f"monitor {name} is the only monitor of the cluster: it cannot be removed"
        )
    commands = [{"prefix": "mon remove", "name": name}]
    after = dict(
        current,
        in_map=False,
        in_quorum=False,
        monitors=[m for m in current["monitors"] if m != name],
        quorum=[m for m in current["quorum"] if m != name],
    )
    if not check_mode:
        session.mon_command("mon remove", name=name)
        after = read(session, name)
    return {"changed": True, "monitor": after, "commands": commands, "diff": make_diff(current, after)}
