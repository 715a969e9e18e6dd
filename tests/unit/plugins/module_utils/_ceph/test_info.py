from ansible_collections.scloud.stack.plugins.module_utils._ceph import info

from tests.unit.plugins.module_utils._ceph._samples import crush, raw_pool


def test_summarise():
    status = {
        "fsid": "f",
        "health": {"status": "HEALTH_WARN", "checks": {"X": {"summary": {"message": "m"}}}},
        "quorum_names": ["a", "b"],
        "monmap": {"num_mons": 3},
        "osdmap": {"num_osds": 3, "num_up_osds": 2, "num_in_osds": 3},
    }
    df = {
        "stats": {"total_bytes": 30, "total_avail_bytes": 20, "total_used_raw_bytes": 10},
        "pools": [
            {
                "name": "volumes",
                "stats": {"stored": 5, "bytes_used": 15, "objects": 2, "max_avail": 7, "percent_used": 0.5},
            }
        ],
    }
    got = info.summarise(status, df, [raw_pool()], crush())
    assert got["health"] == {"status": "HEALTH_WARN", "checks": {"X": "m"}}
    assert got["mons"] == {"quorum": ["a", "b"], "total": 3}
    assert got["osds"] == {"total": 3, "up": 2, "in": 3}
    assert got["pools"][0]["usage"]["objects"] == 2 and got["pools"][0]["crush_rule"] == "replicated_rule"
    assert {r["name"] for r in got["rules"]} == {"replicated_rule", "ssd-rack", "ec"}
