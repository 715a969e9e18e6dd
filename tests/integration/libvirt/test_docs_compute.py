"""The YAML examples of docs/compute.md: every block parses as tasks or a play; the ones that need
only libvirt (the secret and the capacity query) run as written against the real libvirtd."""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile

import pytest
import yaml

from tests.harness import REPO, run_module, run_playbook

pytestmark = [pytest.mark.libvirt]

DOC = REPO / "docs" / "compute.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
RUNNABLE = ("scloud.stack.libvirt_secret", "scloud.stack.libvirt_domain_info")


def test_every_example_is_valid_yaml_with_known_modules():
    assert len(BLOCKS) >= 5
    for block in BLOCKS:
        items = yaml.safe_load(block)
        assert isinstance(items, list) and items, block
        for item in items:
            keys = set(item) - {"name", "register", "hosts", "become", "roles", "when"}
            assert keys or "roles" in item, block


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if any(m in b for m in RUNNABLE)])
def test_libvirt_only_examples_run_as_written(index, libvirt_host):
    tasks = yaml.safe_load(BLOCKS[index])
    tasks.append({"name": "result", "ansible.builtin.debug": {"msg": "ok"}})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    key = base64.b64encode(b"docs-example-key-0123456789").decode()
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        json.dump(play, fh)
    try:
        res = run_playbook(fh.name, extra_vars={"ceph_libvirt_key": key})
    finally:
        os.unlink(fh.name)
    assert res.ok and res.failed_count() == 0, res.stdout[-3000:]
    if "libvirt_secret" in BLOCKS[index]:
        assert "client.libvirt secret" in libvirt_host.virsh("secret-list")
        gone = run_module(
            "scloud.stack.libvirt_secret", {"usage_name": "client.libvirt secret", "state": "absent"}
        )
        assert gone.changed and not gone.failed
