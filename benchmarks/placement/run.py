"""Placement of one VM: the scheduler's decision, and the registry's whole path to it.

Side by side in one run, for 45 nodes (the largest cluster of the seed) and for 10,000 simulated
nodes holding 100,000 VMs:
- the decision alone (``scheduler.schedule`` over the nodes' states, pure Python);
- what a PUT /v1/vms does in its transaction (``Registry.host_states``: two aggregate queries over the
  placed VMs, then the decision), on SQLite, the embedded database;
- the usual way it is written: every VM row loaded and summed per node in Python (an ORM loop).
Writes benchmarks/placement/RESULTS.md.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "api"))

from scloud_api import scheduler  # noqa: E402
from scloud_api.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from scloud_api.models import Node, Resource, new_id, utcnow  # noqa: E402
from scloud_api.registry import Registry  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

RUNS = 15
CASES = [(45, 450), (10_000, 100_000)]


def seed(sm, nodes: int, vms: int) -> None:
    rnd = random.Random(7)
    now = utcnow()
    with sm.begin() as s:
        s.execute(
            insert(Node),
            [
                {
                    "name": f"node{i}",
                    "roles": ["compute"],
                    "set_name": f"s{i // 40}",
                    "vcpus": 64,
                    "memory_mb": 262_144,
                    "up": True,
                    "draining": False,
                    "refreshed_at": now,
                }
                for i in range(nodes)
            ],
        )
        rows = []
        for i in range(vms):
            rows.append(
                {
                    "id": new_id(),
                    "kind": "vm",
                    "name": f"vm{i}",
                    "spec": {},
                    "status": "ready",
                    "observed": {},
                    "node": f"node{rnd.randrange(nodes)}",
                    "addresses": {},
                    "vcpus": rnd.choice((1, 2, 4)),
                    "memory_mb": rnd.choice((512, 1024, 2048)),
                    "affinity_group": f"g{i % 500}" if i % 3 == 0 else None,
                    "generation": 1,
                    "observed_generation": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(rows) == 5000:
                s.execute(insert(Resource), rows)
                rows = []
        if rows:
            s.execute(insert(Resource), rows)


def orm_loop_states(s) -> list[scheduler.HostState]:
    """The usual way: load every VM, sum in Python."""
    used: dict[str, list[int]] = {}
    for vm in s.scalars(select(Resource).where(Resource.kind == "vm")):
        u = used.setdefault(vm.node, [0, 0])
        u[0] += vm.vcpus
        u[1] += vm.memory_mb
    return [
        scheduler.HostState(
            name=n.name,
            roles=frozenset(n.roles),
            set_name=n.set_name,
            vcpus=n.vcpus,
            memory_mb=n.memory_mb,
            used_vcpus=used.get(n.name, [0, 0])[0],
            used_memory_mb=used.get(n.name, [0, 0])[1],
        )
        for n in s.scalars(select(Node))
    ]


def median_ms(fn) -> tuple[float, float]:
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def main() -> int:
    request = scheduler.Request(vcpus=2, memory_mb=2048, group="g7", policy="anti-affinity")
    rows = []
    for nodes, vms in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            upgrade(engine)
            sm = make_sessionmaker(engine)
            t = time.perf_counter()
            seed(sm, nodes, vms)
            seeded = time.perf_counter() - t
            with sm() as s:
                hosts = Registry.host_states(s, group="g7")
                decide = median_ms(lambda h=hosts: scheduler.schedule(h, request))
                path = median_ms(lambda s=s: scheduler.schedule(Registry.host_states(s, group="g7"), request))
                loop = median_ms(lambda s=s: scheduler.schedule(orm_loop_states(s), request))
            engine.dispose()
        rows.append((nodes, vms, decide, path, loop, seeded))
        print(
            f"{nodes} nodes, {vms} VMs: decision {decide[0]:.2f} ms, registry path {path[0]:.1f} ms, "
            f"ORM loop {loop[0]:.1f} ms (seeded in {seeded:.1f} s)",
            flush=True,
        )
    lines = [
        "## placement",
        "",
        "One VM placed (2 vCPUs, 2 GiB, anti-affinity group), median of "
        f"{RUNS} runs (max in brackets), SQLite, one process; the machine's two cores shared with nothing "
        "else this benchmark starts. `benchmarks/placement/run.py`.",
        "",
        "| nodes | placed VMs | decision alone (`scheduler.schedule`) "
        "| registry path (2 aggregate queries + decision) | usual way (load every VM, sum in Python) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for nodes, vms, decide, path, loop, _ in rows:
        lines.append(
            f"| {nodes:,} | {vms:,} | {decide[0]:.2f} ms ({decide[1]:.2f}) "
            f"| {path[0]:.1f} ms ({path[1]:.1f}) | {loop[0]:.1f} ms ({loop[1]:.1f}) |"
        )
    lines += [
        "",
        "The registry path runs inside the PUT's transaction, under the placement lock: it bounds how "
        "many VMs per second one cloud can place (1000 / that figure).",
        "",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
