# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ceph_osd_host``: the OSDs of one node, as a whole, in the cluster maps.

What an operator does to a storage node in the maps, each step one state: ``in`` (every OSD of the
node takes data), ``out`` (every OSD is drained: its data is copied to the other nodes), ``absent``
(every OSD of the node purged — CRUSH entry, key and id — then the node's CRUSH host bucket and its
``osd/host:<name>`` settings removed). The daemons themselves are the ``ceph_osd`` role's and the
playbook's: ``absent`` refuses while an OSD of the node is up, naming it, before anything changes.
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph.crush import check_host_name
from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

# Served by the manager, not the monitors (the `ceph` CLI sends them to "mon-mgr").
MGR_COMMANDS = ("osd purge",)


def validate_params(params):
    check_host_name("name", params["name"], "CRUSH host name")


def read(session, name):
    """The host bucket's OSDs (id, up, in) and its ``osd/host:<name>`` settings; None when absent."""
    tree = session.mon_command("osd tree") or {}
    nodes = {n["id"]: n for n in tree.get("nodes", [])}
    host = next((n for n in tree.get("nodes", []) if n.get("type") == "host" and n.get("name") == name), None)
    settings = sorted(
        e["name"]
        for e in session.mon_command("config dump") or []
        if e.get("section") == "osd" and e.get("location_type") == "host" and e.get("location_value") == name
    )
    if host is None:
        return {"name": name, "bucket": False, "osds": [], "settings": settings}
    osds = []
    for osd_id in sorted(host.get("children", [])):
        node = nodes.get(osd_id, {})
        osds.append(
            {"id": osd_id, "up": node.get("status") == "up", "in": float(node.get("reweight", 0)) > 0}
        )
    return {"name": name, "bucket": True, "osds": osds, "settings": settings}


def plan(current, state):
    """The commands that bring ``current`` to ``state``, and the host as it will be."""
    ids = [str(o["id"]) for o in current["osds"]]
    if state in ("in", "out"):
        # A node that is not in the CRUSH map holds no data: nothing to drain (a re-run after the
        # purge); taking it in is an error (a misspelt name, or a node not deployed yet).
        if not current["bucket"] and state == "in":
            raise ValidationError("name", f"no CRUSH host bucket {current['name']!r}: no OSD to mark in")
        todo = [str(o["id"]) for o in current["osds"] if o["in"] != (state == "in")]
        commands = [{"prefix": f"osd {state}", "ids": todo}] if todo else []
        after = dict(current, osds=[dict(o, **{"in": state == "in"}) for o in current["osds"]])
        return commands, after
    up = [f"osd.{o['id']}" for o in current["osds"] if o["up"]]
    if up:
        raise ValidationError(
            "state",
            f"absent purges the OSDs of {current['name']}, but {', '.join(up)} "
            "still up: stop their daemons first (nothing was changed)",
        )
    commands = [{"prefix": "osd purge", "id": int(i), "yes_i_really_mean_it": True} for i in ids]
    if current["bucket"]:
        commands.append({"prefix": "osd crush remove", "name": current["name"]})
    commands += [
        {"prefix": "config rm", "who": f"osd/host:{current['name']}", "name": key}
        for key in current["settings"]
    ]
    return commands, {"name": current["name"], "bucket": False, "osds": [], "settings": []}


def converge(session, params, check_mode):
    current = read(session, params["name"])
    commands, after = plan(current, params["state"])
    if commands and not check_mode:
        for cmd in commands:
            send = session.mgr_command if cmd["prefix"] in MGR_COMMANDS else session.mon_command
            send(cmd["prefix"], **{k: v for k, v in cmd.items() if k != "prefix"})
        after = read(session, params["name"])
    return {"changed": bool(commands), "host": after, "commands": commands, "diff": make_diff(current, after)}
