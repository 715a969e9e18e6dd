"""The VPC example of docs/network.md runs as written, and a second run changes nothing."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from tests.harness import REPO, run_playbook, run_tasks
from tests.integration.ovn._nb import one

pytestmark = pytest.mark.ovs


def _example():
    text = (REPO / "docs" / "network.md").read_text()
    match = re.search(r"<!-- example: vpc -->\s*```yaml\n(.*?)```", text, re.S)
    assert match, "docs/network.md lost its VPC example"
    return match.group(1)


def test_vpc_example_runs_as_written(ovn):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="docs-vpc-", delete=False) as fh:
        fh.write(_example())
        path = fh.name
    try:
        first = run_playbook(path)
        assert first.ok and first.failed_count() == 0, first.stdout[-3000:]
        assert first.changed_count() > 0
        second = run_playbook(path)
        assert second.ok and second.changed_count() == 0, second.stdout[-3000:]
        assert "203.0.113.20" in ovn.nbctl("lr-nat-list", "blue-router")
        lb = one(ovn, "Load_Balancer", "blue-http", "vips")
        assert lb["vips"] == {"10.10.1.100:80": "10.10.1.10:80,10.10.1.20:80"}
    finally:
        Path(path).unlink()
        run_tasks(
            [
                ("scloud.stack.ovn_load_balancer", {"name": "blue-http", "state": "absent"}),
                ("scloud.stack.ovn_router", {"name": "blue-router", "state": "absent"}),
                ("scloud.stack.ovn_port", {"name": "vm1-eth0", "state": "absent"}),
                ("scloud.stack.ovn_port", {"name": "vm2-eth0", "state": "absent"}),
                ("scloud.stack.ovn_security_group", {"name": "blue-web", "state": "absent"}),
                ("scloud.stack.ovn_switch", {"name": "blue-web", "state": "absent"}),
                ("scloud.stack.ovn_switch", {"name": "blue-db", "state": "absent"}),
                ("scloud.stack.ovn_switch", {"name": "public", "state": "absent"}),
            ]
        )
