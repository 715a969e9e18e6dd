"""Small JSON documents shaped like Ceph 16.2's answers (taken from the test cluster)."""

TYPES = [
    {"type_id": i, "name": n}
    for i, n in enumerate(
        [
            "osd",
            "host",
            "chassis",
            "rack",
            "row",
            "pdu",
            "pod",
            "room",
            "datacenter",
            "zone",
            "region",
            "root",
        ]
    )
]


def crush(hosts_per_rack=((0, 1), (2,)), classes=("hdd", "hdd", "ssd")):
    """A root ``default`` with racks of hosts, one OSD per host, and the classes given per OSD."""
    buckets, root_items, next_id = [], [], -2
    for r, hosts in enumerate(hosts_per_rack):
        rack_id, next_id = next_id, next_id - 1
        rack_items = []
        for osd in hosts:
            host_id, next_id = next_id, next_id - 1
            buckets.append({"id": host_id, "name": f"host{osd}", "type_name": "host", "items": [{"id": osd}]})
            rack_items.append({"id": host_id})
        buckets.append({"id": rack_id, "name": f"rack{r}", "type_name": "rack", "items": rack_items})
        root_items.append({"id": rack_id})
    buckets.append({"id": -1, "name": "default", "type_name": "root", "items": root_items})
    buckets.append({"id": -100, "name": "default~hdd", "type_name": "root", "items": []})
    devices = [{"id": i, "name": f"osd.{i}", "class": c} for i, c in enumerate(classes)]
    rules = [
        {
            "rule_id": 0,
            "rule_name": "replicated_rule",
            "type": 1,
            "steps": [
                {"op": "take", "item": -1, "item_name": "default"},
                {"op": "chooseleaf_firstn", "num": 0, "type": "host"},
                {"op": "emit"},
            ],
        },
        {
            "rule_id": 1,
            "rule_name": "ssd-rack",
            "type": 1,
            "steps": [
                {"op": "take", "item": -7, "item_name": "default~ssd"},
                {"op": "chooseleaf_firstn", "num": 0, "type": "rack"},
                {"op": "emit"},
            ],
        },
        {
            "rule_id": 2,
            "rule_name": "ec",
            "type": 3,
            "steps": [
                {"op": "set_chooseleaf_tries", "num": 5},
                {"op": "set_choose_tries", "num": 100},
                {"op": "take", "item": -1, "item_name": "default"},
                {"op": "chooseleaf_indep", "num": 0, "type": "host"},
                {"op": "emit"},
            ],
        },
    ]
    return {"devices": devices, "types": TYPES, "buckets": buckets, "rules": rules}


def raw_pool(**over):
    pool = {
        "pool_id": 2,
        "pool_name": "volumes",
        "type": 1,
        "size": 3,
        "min_size": 2,
        "crush_rule": 0,
        "pg_autoscale_mode": "off",
        "pg_num": 8,
        "pg_placement_num": 8,
        "pg_num_target": 16,
        "pg_placement_num_target": 16,
        "quota_max_bytes": 0,
        "quota_max_objects": 0,
        "erasure_code_profile": "",
        "options": {},
        "application_metadata": {"rbd": {}},
    }
    pool.update(over)
    return pool
