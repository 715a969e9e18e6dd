# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster facts for ``ceph_info``: health, mons in quorum, OSDs up/in, pools with usage."""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._ceph import crush as crushmap
from ansible_collections.scloud.stack.plugins.module_utils._ceph import pool as poolmod


def summarise(status, df, pools_detail, crush):
    """Pure: the JSON of ``status``, ``df``, ``osd pool ls detail`` and ``osd crush dump`` in one dict."""
    health = status.get("health", {})
    osdmap = status.get("osdmap", {})
    osdmap = osdmap.get("osdmap", osdmap)  # older releases nest it once more
    usage = {p["name"]: p.get("stats", {}) for p in df.get("pools", [])}
    pools = []
    for raw in pools_detail:
        pool = poolmod.normalise_pool(raw, crush)
        stats = usage.get(pool["name"], {})
        pool["usage"] = {
            "stored_bytes": stats.get("stored", stats.get("bytes_used", 0)),
            "used_bytes": stats.get("bytes_used", 0),
            "objects": stats.get("objects", 0),
            "max_avail_bytes": stats.get("max_avail", 0),
            "percent_used": stats.get("percent_used", 0.0),
        }
        pools.append(pool)
    return {
        "fsid": status.get("fsid"),
        "health": {
            "status": health.get("status"),
            "checks": {
                k: v.get("summary", {}).get("message") for k, v in (health.get("checks") or {}).items()
            },
        },
        "mons": {
            "quorum": status.get("quorum_names", []),
            "total": status.get("monmap", {}).get("num_mons", len(status.get("quorum_names", []))),
        },
        "osds": {
            "total": osdmap.get("num_osds", 0),
            "up": osdmap.get("num_up_osds", 0),
            "in": osdmap.get("num_in_osds", 0),
        },
        "capacity": {
            k: df.get("stats", {}).get(k, 0)
            for k in ("total_bytes", "total_avail_bytes", "total_used_raw_bytes")
        },
        "pools": sorted(pools, key=lambda p: p["name"]),
        "rules": [crushmap.describe_rule(r) for r in crush.get("rules", [])],
    }


def gather(session):
    status = session.mon_command("status")
    df = session.mon_command("df", detail="detail")
    pools = session.mon_command("osd pool ls", detail="detail") or []
    crush = session.mon_command("osd crush dump")
    return summarise(status, df or {}, pools, crush)


def converge(session, _params, _check_mode):
    """``ceph_info`` reads only: the same in check mode, never changed."""
    return {"changed": False, **gather(session)}
