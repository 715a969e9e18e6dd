"""Where a new VM goes: the scheduler's placement decision, as pure logic (no database, no I/O).

The model is Nova's filter scheduler. The caller describes each node as a ``HostState``: its
physical vCPUs and memory, and what the VMs already placed there claim (``used_vcpus``,
``used_memory_mb``, and per affinity group how many of its VMs the node holds). Those claims are
counted by the caller from the VM records, in the transaction that inserts the new one under the
placement lock, so two decisions never see the same free capacity.

A node's capacity is its physical size times an allocation ratio: vCPUs are overcommitted
(``cpu_allocation_ratio`` 4.0: a vCPU of a VM is mostly idle), memory is not (``ram_allocation_ratio``
1.0: a VM short of memory is swapped or killed), and ``reserved_host_memory_mb`` is kept for the node
itself before the ratio applies. Capacities are whole numbers (floored).

Filters then weighers: each filter is a yes/no rule that a node must pass (a compute node, up, not
draining, the admin's hints, enough vCPUs, enough memory, the affinity policy), applied in a fixed
order so that when none is left the filter that removed the last candidates says exactly what was
short (``NoValidHost``). Only then are the survivors weighed, so that a preference (``spread``: the
most free memory first; ``pack``: the least that still fits) never places a VM where it does not fit.

The ``Decision`` carries its ``reasons`` (how many nodes passed each filter, the weigher, the top
three candidates with their free capacity), JSON-serialisable: they are stored on the VM record, so
an operator can later see why the VM is where it is.

Each filter is one pass over a list and the ranking takes the top three with a heap, never sorting
the whole list: a decision among 10,000 nodes stays in the milliseconds.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

POLICIES = ("anti-affinity", "affinity")
WEIGHERS = ("spread", "pack")
RANKED = 3
# Capacities are floored; this keeps a product such as 10 * 1.1 = 10.999999... at its intended 11.
_EPSILON = 1e-9

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class HostState:
    """A node as the scheduler sees it, with the claims of the VMs already placed on it."""

    name: str
    roles: frozenset[str]
    set_name: str | None
    vcpus: int
    memory_mb: int
    used_vcpus: int = 0
    used_memory_mb: int = 0
    up: bool = True
    draining: bool = False
    # Affinity-group name -> how many of its VMs this node holds.
    groups: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    """What the new VM needs, its affinity group and the admin's hints (one node, one set)."""

    vcpus: int
    memory_mb: int
    group: str | None = None
    policy: str | None = None
    node: str | None = None
    set_name: str | None = None


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    weigher: str = "spread"


DEFAULT_CONFIG = SchedulerConfig()


@dataclass(frozen=True, slots=True)
class Decision:
    node: str
    reasons: dict[str, Any]


class NoValidHost(Exception):
    """No node passes the filters.

    ``message`` says, for an operator, what was short; ``shortages`` holds the same as
    JSON-serialisable details; ``filter`` names the filter that removed the last candidates;
    ``filters`` is the trail of filters applied with how many nodes passed each.
    """

    def __init__(
        self,
        message: str,
        *,
        filter_name: str,
        shortages: dict[str, Any],
        filters: list[dict[str, Any]],
    ):
        super().__init__(message)
        self.message = message
        self.filter = filter_name
        self.shortages = shortages
        self.filters = filters


class _Free(NamedTuple):
    """A candidate with its free capacity after the allocation ratios."""

    host: HostState
    vcpus: int
    memory_mb: int
    memory_capacity_mb: int


def schedule(
    hosts: Iterable[HostState], request: Request, config: SchedulerConfig = DEFAULT_CONFIG
) -> Decision:
    """The node for a new VM, and why; ``NoValidHost`` if none can take it, ``ValueError`` if the
    request or the configuration makes no sense."""
    _validate(request, config)
    everyone = list(hosts)
    trail: list[dict[str, Any]] = []

    def narrow(name: str, passed: list[_T], explain: Callable[[], tuple[str, dict[str, Any]]]) -> list[_T]:
        trail.append({"filter": name, "passed": len(passed)})
        if not passed:
            message, details = explain()
            raise NoValidHost(message, filter_name=name, shortages={"filter": name, **details}, filters=trail)
        return passed

    compute = narrow("compute", [h for h in everyone if "compute" in h.roles], lambda: _no_compute(everyone))
    up = narrow("up", [h for h in compute if h.up], lambda: _none_up(compute))
    ready = narrow("not_draining", [h for h in up if not h.draining], lambda: _all_draining(up))
    on_node = ready
    if request.node is not None:
        on_node = narrow(
            "node_hint",
            [h for h in ready if h.name == request.node],
            lambda: _node_unfit(everyone, request, config),
        )
    hinted = on_node
    if request.set_name is not None:
        hinted = narrow(
            "set_hint",
            [h for h in on_node if h.set_name == request.set_name],
            lambda: _set_unfit(everyone, request),
        )

    # Inline arithmetic, no call per node: for a whole number n, n <= x + eps is n <= floor(x + eps),
    # the floored capacities of _free().
    cpu_ratio, ram_ratio = config.cpu_allocation_ratio, config.ram_allocation_ratio
    reserved = config.reserved_host_memory_mb
    vcpus, memory_mb = request.vcpus, request.memory_mb
    enough_cpu = narrow(
        "vcpus",
        [h for h in hinted if h.used_vcpus + vcpus <= h.vcpus * cpu_ratio + _EPSILON],
        lambda: _short_of_vcpus(hinted, request, config),
    )
    fitting = narrow(
        "memory",
        [
            h
            for h in enough_cpu
            if h.memory_mb > reserved
            and h.used_memory_mb + memory_mb <= (h.memory_mb - reserved) * ram_ratio + _EPSILON
        ],
        lambda: _short_of_memory(enough_cpu, request, config),
    )
    placeable = fitting
    if request.group is not None:
        placeable = narrow(
            "affinity",
            _affinity(fitting, everyone, request),
            lambda: _affinity_unfit(fitting, everyone, request, config),
        )

    ranked = [_free(h, config) for h in _rank(placeable, config)]
    return Decision(
        node=ranked[0].host.name,
        reasons={
            "filters": trail,
            "weigher": config.weigher,
            "hosts": len(everyone),
            "candidates": len(placeable),
            "ranked": [
                {
                    "node": row.host.name,
                    "free_vcpus": row.vcpus,
                    "free_memory_mb": row.memory_mb,
                    "weight": round(_weight(row, config.weigher), 6),
                }
                for row in ranked
            ],
        },
    )


def _validate(request: Request, config: SchedulerConfig) -> None:
    for name in ("vcpus", "memory_mb"):
        value = getattr(request, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"request {name} must be a whole number of at least 1, not {value!r}")
    if request.group is not None:
        if not request.group:
            raise ValueError("request group must be a non-empty name")
        if request.policy not in POLICIES:
            raise ValueError(
                f"the policy of group {request.group} must be one of {', '.join(POLICIES)}, "
                f"not {request.policy!r}"
            )
    elif request.policy is not None:
        raise ValueError(f"policy {request.policy!r} needs a group")
    if config.weigher not in WEIGHERS:
        raise ValueError(f"weigher must be one of {', '.join(WEIGHERS)}, not {config.weigher!r}")
    if not (config.cpu_allocation_ratio > 0 and config.ram_allocation_ratio > 0):
        raise ValueError("allocation ratios must be greater than 0")
    if config.reserved_host_memory_mb < 0:
        raise ValueError("reserved_host_memory_mb must not be negative")


def _free(host: HostState, config: SchedulerConfig) -> _Free:
    vcpu_capacity = math.floor(host.vcpus * config.cpu_allocation_ratio + _EPSILON)
    usable_mb = max(0, host.memory_mb - config.reserved_host_memory_mb)
    memory_capacity = math.floor(usable_mb * config.ram_allocation_ratio + _EPSILON)
    return _Free(
        host, vcpu_capacity - host.used_vcpus, memory_capacity - host.used_memory_mb, memory_capacity
    )


def _affinity(hosts: list[HostState], everyone: list[HostState], request: Request) -> list[HostState]:
    group = request.group
    if request.policy == "anti-affinity":
        return [h for h in hosts if not h.groups.get(group, 0)]
    # Affinity: where the group already is, among every node given (not only the candidates).
    members = {h.name for h in everyone if h.groups.get(group, 0) > 0}
    if not members:
        return hosts
    return [h for h in hosts if h.name in members]


def _rank(hosts: list[HostState], config: SchedulerConfig) -> list[HostState]:
    """The top candidates, best first: a heap of RANKED, not a sort of them all."""
    cpu_ratio, ram_ratio = config.cpu_allocation_ratio, config.ram_allocation_ratio
    reserved = config.reserved_host_memory_mb

    def free_fraction(h: HostState) -> float:
        # The free memory fraction of _free()'s capacities, inline; int() floors them (never negative).
        capacity = int(max(0, h.memory_mb - reserved) * ram_ratio + _EPSILON)
        return (capacity - h.used_memory_mb) / capacity if capacity > 0 else 0.0

    if config.weigher == "spread":
        return heapq.nsmallest(
            RANKED,
            hosts,
            key=lambda h: (-free_fraction(h), h.used_vcpus - int(h.vcpus * cpu_ratio + _EPSILON), h.name),
        )
    return heapq.nsmallest(RANKED, hosts, key=lambda h: (free_fraction(h), h.name))


def _weight(row: _Free, weigher: str) -> float:
    """The higher the better: the free memory fraction for spread, the used one for pack."""
    fraction = row.memory_mb / row.memory_capacity_mb if row.memory_capacity_mb > 0 else 0.0
    return fraction if weigher == "spread" else 1.0 - fraction


# What each filter says when it leaves no node.


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _no_compute(everyone: list[HostState]) -> tuple[str, dict[str, Any]]:
    if not everyone:
        return "no compute node: the scheduler was given no nodes", {"nodes": 0}
    return (
        f"no compute node among the {_plural(len(everyone), 'node')} (none has the compute role)",
        {"nodes": len(everyone)},
    )


def _none_up(compute: list[HostState]) -> tuple[str, dict[str, Any]]:
    n = len(compute)
    return f"no compute node is up ({_plural(n, 'compute node')}, all down)", {"compute_nodes": n}


def _all_draining(up: list[HostState]) -> tuple[str, dict[str, Any]]:
    n = len(up)
    return (
        f"no compute node is up and not draining (the {_plural(n, 'compute node')} up: all draining)",
        {"up_nodes": n},
    )


def _why_not(host: HostState, request: Request, config: SchedulerConfig) -> str | None:
    """Why this node cannot take the VM, or None if it can (affinity aside)."""
    if "compute" not in host.roles:
        return "not a compute node"
    if not host.up:
        return "down"
    if host.draining:
        return "draining"
    if request.node is not None and host.name != request.node:
        return f"not the requested node {request.node}"
    if request.set_name is not None and host.set_name != request.set_name:
        return f"in set {host.set_name}, not {request.set_name}"
    free = _free(host, config)
    if free.vcpus < request.vcpus:
        return f"{_plural(max(free.vcpus, 0), 'vCPU')} free, this VM needs {request.vcpus}"
    if free.memory_mb < request.memory_mb:
        return f"{max(free.memory_mb, 0)} MiB of memory free, this VM needs {request.memory_mb} MiB"
    return None


def _node_unfit(
    everyone: list[HostState], request: Request, config: SchedulerConfig
) -> tuple[str, dict[str, Any]]:
    named = next((h for h in everyone if h.name == request.node), None)
    if named is None:
        return f"no node named {request.node}", {"node": request.node, "reason": "unknown node"}
    reason = _why_not(named, request, config) or "unknown"
    return (
        f"node {request.node} is not a compute node that is up and not draining (it is {reason})",
        {"node": request.node, "reason": reason},
    )


def _set_unfit(everyone: list[HostState], request: Request) -> tuple[str, dict[str, Any]]:
    wanted = request.set_name
    if request.node is not None:
        # The node hint passed: the one node is outside the set.
        node = next(h for h in everyone if h.name == request.node)
        return (
            f"node {node.name} is in set {node.set_name}, not in set {wanted}",
            {"set": wanted, "node": node.name, "node_set": node.set_name},
        )
    in_set = sum(1 for h in everyone if h.set_name == wanted)
    if not in_set:
        return f"no node is in set {wanted}", {"set": wanted, "nodes_in_set": 0}
    return (
        f"no compute node of set {wanted} is up and not draining ({_plural(in_set, 'node')} in the set)",
        {"set": wanted, "nodes_in_set": in_set},
    )


def _scope(request: Request) -> str:
    return f"no compute node of set {request.set_name}" if request.set_name is not None else "no compute node"


def _short_of_vcpus(
    hosts: list[HostState], request: Request, config: SchedulerConfig
) -> tuple[str, dict[str, Any]]:
    rows = [_free(h, config) for h in hosts]
    best = min(rows, key=lambda r: (-r.vcpus, r.host.name))
    largest = max(best.vcpus, 0)
    ratio = f"CPU allocation ratio {float(config.cpu_allocation_ratio)}"
    needed = _plural(request.vcpus, "vCPU")
    if request.node is not None:
        has = _plural(largest, "vCPU")
        message = f"node {request.node} does not have {needed} free for this VM (it has {has}; {ratio})"
    else:
        message = (
            f"{_scope(request)} has {needed} free for this VM "
            f"(the most free: {_plural(largest, 'vCPU')} on {best.host.name}; {ratio})"
        )
    return message, {
        "requested_vcpus": request.vcpus,
        "largest_free_vcpus": largest,
        "node": best.host.name,
        "cpu_allocation_ratio": config.cpu_allocation_ratio,
    }


def _short_of_memory(
    hosts: list[HostState], request: Request, config: SchedulerConfig
) -> tuple[str, dict[str, Any]]:
    rows = [_free(h, config) for h in hosts]
    best = min(rows, key=lambda r: (-r.memory_mb, r.host.name))
    largest = max(best.memory_mb, 0)
    ratio = f"memory allocation ratio {float(config.ram_allocation_ratio)}"
    needed = f"{request.memory_mb} MiB of memory"
    if request.node is not None:
        message = (
            f"node {request.node} does not have {needed} free for this VM (it has {largest} MiB; {ratio})"
        )
    else:
        message = (
            f"{_scope(request)} has {needed} free for this VM "
            f"(the most free: {largest} MiB on {best.host.name}; {ratio})"
        )
    return message, {
        "requested_memory_mb": request.memory_mb,
        "largest_free_memory_mb": largest,
        "node": best.host.name,
        "ram_allocation_ratio": config.ram_allocation_ratio,
        "reserved_host_memory_mb": config.reserved_host_memory_mb,
    }


def _affinity_unfit(
    hosts: list[HostState], everyone: list[HostState], request: Request, config: SchedulerConfig
) -> tuple[str, dict[str, Any]]:
    group = request.group
    if request.policy == "anti-affinity":
        n = len(hosts)
        where = f"on each of the {n} nodes" if n > 1 else f"on {hosts[0].name}, the only node"
        return (
            f"anti-affinity group {group} already has a VM {where} that could take this VM",
            {"group": group, "policy": request.policy, "nodes": n},
        )
    members = sorted((h for h in everyone if h.groups.get(group, 0) > 0), key=lambda h: h.name)
    why = {h.name: _why_not(h, request, config) or "unknown" for h in members}
    shown = "; ".join(f"{name}: {reason}" for name, reason in list(why.items())[:RANKED])
    more = f"; and {len(why) - RANKED} more" if len(why) > RANKED else ""
    return (
        f"affinity group {group} has its VMs on {_plural(len(why), 'node')}, none of which can take "
        f"this VM ({shown}{more})",
        {"group": group, "policy": request.policy, "member_nodes": list(why), "why": why},
    )
