"""20 VM creates through the API on the lab (`make up` first) against 20 direct ansible-playbook runs.

Side by side in one run, on the cloud `make up` built:
- through the API: 20 `PUT /v1/vms/{name}` sent at once through the VIP, each placed by the
  scheduler and converged by a job on its compute node; wall time until every job ended;
- the usual way: 20 `ansible-playbook` runs from the controller, one after the other, each defining
  one domain with `scloud.stack.libvirt_domain` on a node chosen round-robin.
The VMs are defined shut off (no disk, no NIC): what is measured is the path, not a guest's boot.
Both sets are removed afterwards. Writes benchmarks/cloud_api/RESULTS.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.harness import REPO, run_playbook  # noqa: E402
from tests.lab.vip import MGMT_NODES, URL, tls  # noqa: E402

N = 20
TERMINAL = ("successful", "failed", "canceled", "timeout")
PLAYBOOK = """
- hosts: "{{ node }}"
  gather_facts: false
  tasks:
    - scloud.stack.libvirt_domain:
        name: "{{ vm }}"
        state: "{{ state }}"
        memory: 64M
        virt_type: qemu
"""


def _wait_all(c, ids):
    pending = set(ids)
    statuses = {}
    while pending:
        for job_id in list(pending):
            status = c.get(f"/v1/jobs/{job_id}").json()["status"]
            if status in TERMINAL:
                statuses[job_id] = status
                pending.discard(job_id)
        time.sleep(0.5)
    return statuses


def through_api(c) -> float:
    start = time.monotonic()
    ids = [
        c.put(
            f"/v1/vms/bench-api-{i}", json={"memory_mb": 64, "virt_type": "qemu", "state": "shutoff"}
        ).json()["id"]
        for i in range(N)
    ]
    statuses = _wait_all(c, ids)
    elapsed = time.monotonic() - start
    assert set(statuses.values()) == {"successful"}, statuses
    _wait_all(c, [c.delete(f"/v1/vms/bench-api-{i}").json()["id"] for i in range(N)])
    return elapsed


def direct(playbook: Path) -> float:
    inventory = str(REPO / "inventories" / "lab")
    start = time.monotonic()
    for i in range(N):
        run = run_playbook(
            str(playbook),
            inventory=inventory,
            extra_vars={"node": MGMT_NODES[i % 3], "vm": f"bench-cli-{i}", "state": "shutoff"},
        )
        assert run.ok, run.stdout[-2000:]
    elapsed = time.monotonic() - start
    for i in range(N):
        run_playbook(
            str(playbook),
            inventory=inventory,
            extra_vars={"node": MGMT_NODES[i % 3], "vm": f"bench-cli-{i}", "state": "absent"},
        )
    return elapsed


def main() -> int:
    headers = {"Authorization": f"Bearer {(REPO / '.cache' / 'lab' / 'admin.key').read_text().strip()}"}
    with httpx.Client(base_url=URL, verify=tls(), headers=headers, timeout=30) as c:
        api = through_api(c)
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "vm.yml"
        playbook.write_text(PLAYBOOK)
        cli = direct(playbook)
    load = os.getloadavg()[0]
    lines = [
        "## cloud_api: 20 VMs through the API against 20 ansible-playbook runs",
        "",
        f"On the lab (three nodes), `benchmarks/cloud_api/run.py`; load average {load:.1f} at the end.",
        "",
        "| way | wall time for 20 VMs | per VM |",
        "| --- | --- | --- |",
        f"| 20 `PUT /v1/vms` at once through the VIP (placed, one job each on its node) | {api:.1f} s "
        f"| {api / N:.2f} s |",
        f"| 20 `ansible-playbook` runs from the controller, one after the other | {cli:.1f} s "
        f"| {cli / N:.2f} s |",
        "",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
