"""What one Prometheus scrape of an API replica's /metrics costs: the ``scloud_vm_drift`` series of
every VM (``registry.vm_drift_exposition``: one query of four columns, the drift rule per row), side
by side with the usual way (every VM record loaded as an ORM object and turned into its public view,
as GET /v1/vms does). SQLite, 1,000 and 10,000 VMs of which 1% drifted. Each mgmt node's Prometheus
scrapes each replica every 15 s (roles/monitoring): 3 scrapes per replica per 15 s on the lab.
Writes benchmarks/metrics_scrape/RESULTS.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "api"))

from scloud_api.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from scloud_api.models import Resource, new_id, utcnow  # noqa: E402
from scloud_api.registry import public_view, vm_drift_exposition  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

RUNS = 9
CASES = (1_000, 10_000)


def seed(sm, vms: int) -> None:
    now = utcnow()
    rows = []
    for i in range(vms):
        gone = i % 100 == 0
        rows.append(
            {
                "id": new_id(),
                "kind": "vm",
                "name": f"vm{i}",
                "spec": {"state": "running", "vcpus": 1, "memory_mb": 512, "nics": [], "disks": []},
                "status": "ready",
                "observed": {"exists": not gone, "state": "absent" if gone else "running", "vcpus": 1},
                "node": f"node{i % 45}",
                "addresses": {},
                "vcpus": 1,
                "memory_mb": 512,
                "generation": 1,
                "observed_generation": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    with sm.begin() as s:
        for start in range(0, len(rows), 5000):
            s.execute(insert(Resource), rows[start : start + 5000])


def orm_way(s) -> str:
    views = [public_view(r) for r in s.scalars(select(Resource).where(Resource.kind == "vm"))]
    return "\n".join(
        f'scloud_vm_drift{{vm="{v["name"]}",vm_node="{v["node"]}"}} {int(v["drift"])}' for v in views
    )


def timed(fn, sm) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(RUNS):
        with sm() as s:
            start = time.perf_counter()
            out = fn(s)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def main() -> None:
    lines = [
        "# One /metrics scrape: scloud_vm_drift of every VM (SQLite)",
        "",
        f"Median of {RUNS} runs each, on this machine (2 shared vCPUs): "
        "`python benchmarks/metrics_scrape/run.py`.",
        "",
        "| VMs | one query of 4 columns (ours) | ORM objects + public view | drifted series |",
        "| --- | --- | --- | --- |",
    ]
    for vms in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            engine = make_engine(url)
            upgrade(engine)
            sm = make_sessionmaker(engine)
            seed(sm, vms)
            ours, text = timed(vm_drift_exposition, sm)
            usual, _ = timed(orm_way, sm)
            drifted = sum(1 for line in text.splitlines() if line.endswith(" 1"))
            lines.append(f"| {vms:,} | {ours:.1f} ms | {usual:.1f} ms | {drifted} |")
            engine.dispose()
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
