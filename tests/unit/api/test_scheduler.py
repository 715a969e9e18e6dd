"""scloud_api.scheduler: which node a new VM goes to, and what an operator is told when none can take it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from scloud_api.scheduler import (
    Decision,
    HostState,
    NoValidHost,
    Request,
    SchedulerConfig,
    schedule,
)

RESERVED = SchedulerConfig().reserved_host_memory_mb
GIB = 1024


def host(name: str, vcpus: int = 16, memory_mb: int = 32 * GIB + RESERVED, **kwargs) -> HostState:
    """A compute node, up, whose memory after the reserve is ``memory_mb - RESERVED``."""
    kwargs.setdefault("roles", frozenset({"compute"}))
    kwargs.setdefault("set_name", "set1")
    return HostState(name=name, vcpus=vcpus, memory_mb=memory_mb, **kwargs)


def place(hosts: list[HostState], request: Request, config: SchedulerConfig = SchedulerConfig()):
    """Schedule, then claim the VM on its node as the caller would: the next decision sees it."""
    decision = schedule(hosts, request, config)
    updated = []
    for h in hosts:
        if h.name == decision.node:
            groups = dict(h.groups)
            if request.group:
                groups[request.group] = groups.get(request.group, 0) + 1
            h = replace(
                h,
                used_vcpus=h.used_vcpus + request.vcpus,
                used_memory_mb=h.used_memory_mb + request.memory_mb,
                groups=groups,
            )
        updated.append(h)
    return decision, updated


def no_valid_host(hosts, request, config=SchedulerConfig()) -> NoValidHost:
    with pytest.raises(NoValidHost) as info:
        schedule(hosts, request, config)
    return info.value


SMALL = Request(vcpus=1, memory_mb=GIB)


# -- filters --------------------------------------------------------------------------------------


def test_compute_filter_keeps_only_compute_nodes():
    hosts = [
        host("mgmt1", memory_mb=256 * GIB, roles=frozenset({"mgmt", "storage"})),
        host("node1", roles=frozenset({"mgmt", "compute", "storage"})),
    ]
    decision = schedule(hosts, SMALL)
    assert decision.node == "node1"
    assert decision.reasons["filters"][0] == {"filter": "compute", "passed": 1}


def test_no_compute_node():
    err = no_valid_host([host("mgmt1", roles=frozenset({"mgmt"})), host("st1", roles=frozenset())], SMALL)
    assert err.filter == "compute"
    assert err.message == "no compute node among the 2 nodes (none has the compute role)"
    assert err.shortages == {"filter": "compute", "nodes": 2}
    assert str(err) == err.message


def test_no_node_at_all():
    err = no_valid_host([], SMALL)
    assert err.filter == "compute"
    assert err.message.startswith("no compute node")
    assert err.shortages == {"filter": "compute", "nodes": 0}


def test_up_filter():
    hosts = [host("node1", memory_mb=256 * GIB, up=False), host("node2")]
    assert schedule(hosts, SMALL).node == "node2"

    err = no_valid_host([host("node1", up=False), host("node2", up=False)], SMALL)
    assert err.filter == "up"
    assert err.message == "no compute node is up (2 compute nodes, all down)"
    assert err.shortages == {"filter": "up", "compute_nodes": 2}
    assert err.filters == [{"filter": "compute", "passed": 2}, {"filter": "up", "passed": 0}]


def test_not_draining_filter():
    hosts = [host("node1", memory_mb=256 * GIB, draining=True), host("node2")]
    assert schedule(hosts, SMALL).node == "node2"

    err = no_valid_host([host("node1", draining=True), host("node2", up=False)], SMALL)
    assert err.filter == "not_draining"
    assert err.message.startswith("no compute node is up and not draining")
    assert "draining" in err.message
    assert err.shortages == {"filter": "not_draining", "up_nodes": 1}


def test_vcpus_filter_names_the_most_free():
    # 2 vCPUs x 4.0 = 8 schedulable vCPUs per node.
    hosts = [
        host("node1", vcpus=2, used_vcpus=4),
        host("node2", vcpus=2, used_vcpus=2),
        host("node3", vcpus=8),
    ]
    assert schedule(hosts, Request(vcpus=7, memory_mb=GIB)).node == "node3"

    err = no_valid_host(hosts[:2], Request(vcpus=7, memory_mb=GIB))
    assert err.filter == "vcpus"
    assert err.message == (
        "no compute node has 7 vCPUs free for this VM "
        "(the most free: 6 vCPUs on node2; CPU allocation ratio 4.0)"
    )
    assert err.shortages == {
        "filter": "vcpus",
        "requested_vcpus": 7,
        "largest_free_vcpus": 6,
        "node": "node2",
        "cpu_allocation_ratio": 4.0,
    }


def test_memory_filter_names_the_most_free():
    hosts = [host("node1", memory_mb=16 * GIB + RESERVED), host("node2", memory_mb=23_040 + RESERVED)]
    hosts.append(host("node3", memory_mb=128 * GIB + RESERVED, used_memory_mb=110 * GIB))
    err = no_valid_host(hosts, Request(vcpus=2, memory_mb=102_400))
    assert err.filter == "memory"
    assert err.message == (
        "no compute node has 102400 MiB of memory free for this VM "
        "(the most free: 23040 MiB on node2; memory allocation ratio 1.0)"
    )
    assert err.shortages == {
        "filter": "memory",
        "requested_memory_mb": 102_400,
        "largest_free_memory_mb": 23_040,
        "node": "node2",
        "ram_allocation_ratio": 1.0,
        "reserved_host_memory_mb": RESERVED,
    }


def test_memory_filter_keeps_the_reserve_for_the_node():
    node = host("node1", memory_mb=4 * GIB)  # 4096 - 512 = 3584 MiB schedulable
    assert schedule([node], Request(vcpus=1, memory_mb=3584)).node == "node1"
    err = no_valid_host([node], Request(vcpus=1, memory_mb=3585))
    assert err.shortages["largest_free_memory_mb"] == 3584
    config = SchedulerConfig(reserved_host_memory_mb=0)
    assert schedule([node], Request(vcpus=1, memory_mb=4096), config).node == "node1"


def test_filters_apply_in_order_and_report_the_first_that_empties():
    # Short of both vCPUs and memory: the vcpus filter comes first.
    err = no_valid_host([host("node1", vcpus=1, memory_mb=GIB)], Request(vcpus=64, memory_mb=64 * GIB))
    assert err.filter == "vcpus"
    assert [f["filter"] for f in err.filters] == ["compute", "up", "not_draining", "vcpus"]


# -- allocation ratios ----------------------------------------------------------------------------


def test_vcpus_are_overcommitted_four_times():
    node = host("node1", vcpus=4)
    assert schedule([node], Request(vcpus=16, memory_mb=GIB)).node == "node1"
    assert schedule([replace(node, used_vcpus=12)], Request(vcpus=4, memory_mb=GIB)).node == "node1"
    assert no_valid_host([node], Request(vcpus=17, memory_mb=GIB)).filter == "vcpus"
    assert no_valid_host([replace(node, used_vcpus=13)], Request(vcpus=4, memory_mb=GIB)).filter == "vcpus"


def test_memory_is_not_overcommitted():
    node = host("node1", memory_mb=8 * GIB + RESERVED)
    assert schedule([node], Request(vcpus=1, memory_mb=8 * GIB)).node == "node1"
    assert no_valid_host([node], Request(vcpus=1, memory_mb=8 * GIB + 1)).filter == "memory"
    err = no_valid_host([replace(node, used_memory_mb=6 * GIB)], Request(vcpus=1, memory_mb=3 * GIB))
    assert err.shortages["largest_free_memory_mb"] == 2 * GIB


def test_ratios_are_configurable():
    node = host("node1", vcpus=4, memory_mb=8 * GIB + RESERVED)
    config = SchedulerConfig(cpu_allocation_ratio=1.0, ram_allocation_ratio=1.5)
    err = no_valid_host([node], Request(vcpus=5, memory_mb=GIB), config)
    assert "CPU allocation ratio 1.0" in err.message
    assert schedule([node], Request(vcpus=4, memory_mb=12 * GIB), config).node == "node1"
    err = no_valid_host([node], Request(vcpus=4, memory_mb=12 * GIB + 1), config)
    assert "memory allocation ratio 1.5" in err.message


def test_fractional_ratio_capacity_is_floored():
    node = host("node1", vcpus=10)
    config = SchedulerConfig(cpu_allocation_ratio=1.1)  # 11 vCPUs, not 10 through float rounding
    assert schedule([node], Request(vcpus=11, memory_mb=GIB), config).node == "node1"
    assert (
        no_valid_host([node], Request(vcpus=12, memory_mb=GIB), config).shortages["largest_free_vcpus"] == 11
    )


# -- hints ----------------------------------------------------------------------------------------


def test_node_hint_places_on_that_node_only():
    hosts = [host("node1", memory_mb=256 * GIB), host("node2", memory_mb=8 * GIB)]
    decision = schedule(hosts, Request(vcpus=1, memory_mb=GIB, node="node2"))
    assert decision.node == "node2"
    assert {"filter": "node_hint", "passed": 1} in decision.reasons["filters"]
    assert "node_hint" not in [f["filter"] for f in schedule(hosts, SMALL).reasons["filters"]]


def test_node_hint_unknown_node():
    err = no_valid_host([host("node1")], Request(vcpus=1, memory_mb=GIB, node="node9"))
    assert err.filter == "node_hint"
    assert err.message == "no node named node9"
    assert err.shortages == {"filter": "node_hint", "node": "node9", "reason": "unknown node"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"draining": True}, "draining"),
        ({"up": False}, "down"),
        ({"roles": frozenset({"storage"})}, "not a compute node"),
    ],
)
def test_node_hint_on_a_node_that_cannot_take_vms(changes, reason):
    hosts = [host("node1"), host("node2", **changes)]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=GIB, node="node2"))
    assert err.filter == "node_hint"
    assert err.message == f"node node2 is not a compute node that is up and not draining (it is {reason})"
    assert err.shortages == {"filter": "node_hint", "node": "node2", "reason": reason}


def test_node_hint_on_a_full_node_names_the_node():
    hosts = [host("node1"), host("node2", memory_mb=4 * GIB + RESERVED)]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=8 * GIB, node="node2"))
    assert err.filter == "memory"
    assert err.message == (
        "node node2 does not have 8192 MiB of memory free for this VM "
        "(it has 4096 MiB; memory allocation ratio 1.0)"
    )
    err = no_valid_host(hosts, Request(vcpus=65, memory_mb=GIB, node="node2"))
    assert err.message.startswith("node node2 does not have 65 vCPUs free for this VM (it has 64 vCPUs")


def test_set_hint_places_within_the_set():
    hosts = [
        host("a1", memory_mb=256 * GIB, set_name="setA"),
        host("b1", set_name="setB"),
        host("b2", set_name="setB"),
    ]
    decision = schedule(hosts, Request(vcpus=1, memory_mb=GIB, set_name="setB"))
    assert decision.node in {"b1", "b2"}
    assert {"filter": "set_hint", "passed": 2} in decision.reasons["filters"]


def test_set_hint_failures():
    hosts = [host("a1", set_name="setA"), host("b1", set_name="setB", up=False), host("x1", set_name=None)]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=GIB, set_name="setC"))
    assert (err.filter, err.message) == ("set_hint", "no node is in set setC")

    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=GIB, set_name="setB"))
    assert err.filter == "set_hint"
    assert err.message == "no compute node of set setB is up and not draining (1 node in the set)"
    assert err.shortages == {"filter": "set_hint", "set": "setB", "nodes_in_set": 1}

    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=GIB, node="a1", set_name="setB"))
    assert (err.filter, err.message) == ("set_hint", "node a1 is in set setA, not in set setB")


def test_set_hint_shortage_names_the_set():
    hosts = [host("a1", set_name="setA", memory_mb=256 * GIB), host("b1", set_name="setB")]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=64 * GIB, set_name="setB"))
    assert err.filter == "memory"
    assert err.message.startswith("no compute node of set setB has 65536 MiB of memory free")
    assert err.shortages["node"] == "b1"


# -- weighers -------------------------------------------------------------------------------------


def test_spread_and_pack_choose_different_nodes():
    hosts = [
        host("busy", memory_mb=64 * GIB + RESERVED, used_memory_mb=48 * GIB),  # 25% free
        host("idle", memory_mb=64 * GIB + RESERVED),  # 100% free
        host("half", memory_mb=64 * GIB + RESERVED, used_memory_mb=32 * GIB),  # 50% free
        host("full", memory_mb=64 * GIB + RESERVED, used_memory_mb=63 * GIB + 512),  # too full for 1 GiB
    ]
    spread = schedule(hosts, SMALL, SchedulerConfig(weigher="spread"))
    pack = schedule(hosts, SMALL, SchedulerConfig(weigher="pack"))
    assert spread.node == "idle"
    assert pack.node == "busy"
    assert [r["node"] for r in spread.reasons["ranked"]] == ["idle", "half", "busy"]
    assert [r["node"] for r in pack.reasons["ranked"]] == ["busy", "half", "idle"]
    assert spread.reasons["ranked"][0] == {
        "node": "idle",
        "free_vcpus": 64,
        "free_memory_mb": 64 * GIB,
        "weight": 1.0,
    }
    assert pack.reasons["ranked"][0]["weight"] == 0.75


def test_spread_uses_the_memory_fraction_not_the_amount():
    hosts = [
        host("big", memory_mb=256 * GIB + RESERVED, used_memory_mb=192 * GIB),  # 64 GiB free, 25%
        host("small", memory_mb=16 * GIB + RESERVED, used_memory_mb=4 * GIB),  # 12 GiB free, 75%
    ]
    assert schedule(hosts, SMALL).node == "small"


def test_spread_ties_go_to_most_free_vcpus_then_name():
    same = [host("node3"), host("node1"), host("node2")]
    assert schedule(same, SMALL).node == "node1"
    assert schedule(list(reversed(same)), SMALL).node == "node1"
    assert [r["node"] for r in schedule(same, SMALL).reasons["ranked"]] == ["node1", "node2", "node3"]

    hosts = [host("node1", used_vcpus=8), host("node2", used_vcpus=2), host("node3", used_vcpus=2)]
    assert schedule(hosts, SMALL).node == "node2"


def test_pack_ties_go_to_name():
    same = [host("node3", used_vcpus=10), host("node1", used_vcpus=50), host("node2")]
    config = SchedulerConfig(weigher="pack")
    assert schedule(same, SMALL, config).node == "node1"
    assert schedule(list(reversed(same)), SMALL, config).node == "node1"


def test_spread_fills_nodes_evenly_when_fed_back():
    hosts = [host("node1"), host("node2"), host("node3")]
    placed = []
    for _ in range(6):
        decision, hosts = place(hosts, Request(vcpus=2, memory_mb=4 * GIB))
        placed.append(decision.node)
    assert placed == ["node1", "node2", "node3", "node1", "node2", "node3"]


def test_pack_fills_one_node_first_when_fed_back():
    hosts = [host("node1", memory_mb=8 * GIB + RESERVED), host("node2", memory_mb=8 * GIB + RESERVED)]
    placed = []
    for _ in range(3):
        decision, hosts = place(hosts, Request(vcpus=1, memory_mb=4 * GIB), SchedulerConfig(weigher="pack"))
        placed.append(decision.node)
    assert placed == ["node1", "node1", "node2"]


# -- affinity groups ------------------------------------------------------------------------------


def test_anti_affinity_spreads_a_group_then_refuses_a_fourth():
    # Pack would put them all on node1; anti-affinity forbids it.
    config = SchedulerConfig(weigher="pack")
    hosts = [host("node1"), host("node2"), host("node3")]
    web = Request(vcpus=1, memory_mb=GIB, group="web", policy="anti-affinity")
    placed = []
    for _ in range(3):
        decision, hosts = place(hosts, web, config)
        placed.append(decision.node)
    assert sorted(placed) == ["node1", "node2", "node3"]

    err = no_valid_host(hosts, web, config)
    assert err.filter == "affinity"
    assert (
        err.message
        == "anti-affinity group web already has a VM on each of the 3 nodes that could take this VM"
    )
    assert err.shortages == {"filter": "affinity", "group": "web", "policy": "anti-affinity", "nodes": 3}

    # Another group, and a VM of no group, still go anywhere.
    other = Request(vcpus=1, memory_mb=GIB, group="db", policy="anti-affinity")
    assert schedule(hosts, other, config).node == "node1"
    assert schedule(hosts, SMALL, config).node == "node1"


def test_anti_affinity_with_one_candidate_names_it():
    hosts = [host("node1", groups={"web": 1}), host("node2", up=False)]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=GIB, group="web", policy="anti-affinity"))
    assert (
        err.message
        == "anti-affinity group web already has a VM on node1, the only node that could take this VM"
    )


def test_affinity_keeps_a_group_together():
    hosts = [host("node1"), host("node2"), host("node3")]
    db = Request(vcpus=1, memory_mb=GIB, group="db", policy="affinity")
    placed = []
    for _ in range(4):
        decision, hosts = place(hosts, db)  # spread would move on to another node each time
        placed.append(decision.node)
    assert placed == ["node1"] * 4
    assert {"filter": "affinity", "passed": 1} in decision.reasons["filters"]


def test_affinity_members_are_found_among_all_nodes():
    # The group's node is draining: the VM must not start the group over on another node.
    hosts = [host("node1", draining=True, groups={"db": 2}), host("node2"), host("node3")]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=GIB, group="db", policy="affinity"))
    assert err.filter == "affinity"
    assert (
        err.message
        == "affinity group db has its VMs on 1 node, none of which can take this VM (node1: draining)"
    )
    assert err.shortages == {
        "filter": "affinity",
        "group": "db",
        "policy": "affinity",
        "member_nodes": ["node1"],
        "why": {"node1": "draining"},
    }


def test_affinity_member_without_room():
    hosts = [
        host("node2", memory_mb=2 * GIB + RESERVED, groups={"db": 1}),
        host("node1", memory_mb=256 * GIB),
    ]
    err = no_valid_host(hosts, Request(vcpus=1, memory_mb=4 * GIB, group="db", policy="affinity"))
    assert err.filter == "affinity"
    assert "node2: 2048 MiB of memory free, this VM needs 4096 MiB" in err.message


def test_affinity_group_zero_counts_are_not_members():
    hosts = [host("node1", groups={"db": 0}, used_memory_mb=16 * GIB), host("node2")]
    decision = schedule(hosts, Request(vcpus=1, memory_mb=GIB, group="db", policy="affinity"))
    assert decision.node == "node2"


# -- reasons --------------------------------------------------------------------------------------


def test_reasons_are_json_serialisable_and_complete():
    hosts = [host(f"node{i}", groups={"web": 1} if i == 0 else {}) for i in range(6)]
    hosts.append(host("down", up=False))
    request = Request(vcpus=2, memory_mb=2 * GIB, group="web", policy="anti-affinity", set_name="set1")
    decision = schedule(hosts, request)
    assert isinstance(decision, Decision)
    reasons = json.loads(json.dumps(decision.reasons))
    assert reasons == decision.reasons
    assert reasons["filters"] == [
        {"filter": "compute", "passed": 7},
        {"filter": "up", "passed": 6},
        {"filter": "not_draining", "passed": 6},
        {"filter": "set_hint", "passed": 6},
        {"filter": "vcpus", "passed": 6},
        {"filter": "memory", "passed": 6},
        {"filter": "affinity", "passed": 5},
    ]
    assert reasons["weigher"] == "spread"
    assert reasons["candidates"] == 5
    assert reasons["hosts"] == 7
    assert [r["node"] for r in reasons["ranked"]] == ["node1", "node2", "node3"]
    assert reasons["ranked"][0]["node"] == decision.node


def test_shortages_are_json_serialisable():
    hosts = [host("node1", draining=True, groups={"db": 1}), host("node2")]
    requests = [
        Request(vcpus=1, memory_mb=GIB, group="db", policy="affinity"),
        Request(vcpus=1000, memory_mb=GIB),
        Request(vcpus=1, memory_mb=1000 * GIB),
        Request(vcpus=1, memory_mb=GIB, node="node1"),
    ]
    for request in requests:
        err = no_valid_host(hosts, request)
        assert json.loads(json.dumps(err.shortages)) == err.shortages
        assert json.loads(json.dumps(err.filters)) == err.filters


def test_decides_among_ten_thousand_nodes():
    hosts = (
        host(
            f"node{i:05d}",
            vcpus=32,
            memory_mb=128 * GIB + RESERVED,
            used_vcpus=i % 97,
            used_memory_mb=(i * 7919) % (120 * GIB),
            set_name=f"set{i % 20}",
            up=i % 50 != 0,
            groups={"web": 1} if i % 3 == 0 else {},
        )
        for i in range(10_000)
    )
    request = Request(vcpus=4, memory_mb=8 * GIB, group="web", policy="anti-affinity")
    decision = schedule(hosts, request)  # a generator is fine too
    assert decision.node.startswith("node")
    assert decision.reasons["hosts"] == 10_000
    assert len(decision.reasons["ranked"]) == 3


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "words"),
    [
        ({"vcpus": 0, "memory_mb": GIB}, "vcpus"),
        ({"vcpus": -2, "memory_mb": GIB}, "vcpus"),
        ({"vcpus": 1.5, "memory_mb": GIB}, "vcpus"),
        ({"vcpus": True, "memory_mb": GIB}, "vcpus"),
        ({"vcpus": 1, "memory_mb": 0}, "memory_mb"),
        ({"vcpus": 1, "memory_mb": GIB, "group": "web"}, "policy of group web"),
        (
            {"vcpus": 1, "memory_mb": GIB, "group": "web", "policy": "soft-anti-affinity"},
            "soft-anti-affinity",
        ),
        ({"vcpus": 1, "memory_mb": GIB, "policy": "affinity"}, "needs a group"),
        ({"vcpus": 1, "memory_mb": GIB, "group": "", "policy": "affinity"}, "group"),
    ],
)
def test_bad_requests_raise_value_error(request_kwargs, words):
    with pytest.raises(ValueError, match=words):
        schedule([host("node1")], Request(**request_kwargs))


@pytest.mark.parametrize(
    "config",
    [
        SchedulerConfig(weigher="random"),
        SchedulerConfig(cpu_allocation_ratio=0),
        SchedulerConfig(ram_allocation_ratio=-1.0),
        SchedulerConfig(reserved_host_memory_mb=-1),
    ],
)
def test_bad_configs_raise_value_error(config):
    with pytest.raises(ValueError):
        schedule([host("node1")], SMALL, config)
