"""The lab refuses bad input with a clear message and destroys nothing already running.

These run the real `playbooks/lab.yml` with podman; each stops in validation, before the lab
touches the image, the network or any container.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.harness import run_playbook

LAB = "playbooks/lab.yml"


def _inventory(hosts):
    return {"all": {"children": {"lab": {"hosts": hosts}}}}


def _names(lab_name):
    # Only the throw-away lab's containers (by its label): other labs, Molecule's on the lane
    # beside this one, come and go while these tests run.
    out = subprocess.run(
        ["podman", "ps", "--all", "--format", "json", "--filter", f"label=scloud_lab={lab_name}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {n for c in json.loads(out.stdout or "[]") for n in c["Names"]}


def _failure(run):
    msgs = []
    for ev in run.events:
        if ev.get("event") == "runner_on_failed":
            res = ev["event_data"]["res"]
            msgs.append(res.get("msg", ""))
            msgs.extend(item.get("msg", "") for item in res.get("results", []) if item.get("failed"))
    assert msgs, f"the play did not fail: {run.status}\n{run.stdout[-2000:]}"
    return " ".join(msgs)


def _lab_vars(tmp_path, **extra):
    # A throw-away name and state dir: nothing of a running lab is looked at or touched.
    return {
        "lab_name": f"t-{uuid.uuid4().hex[:6]}",
        "lab_network": f"t-{uuid.uuid4().hex[:6]}",
        "lab_state_dir": str(tmp_path / "state"),
        **extra,
    }


@pytest.mark.parametrize("count", [0, 46])
def test_invalid_node_count(tmp_path, count):
    hosts = {f"n{i}": {"ansible_host": f"10.89.10.{10 + i}"} for i in range(count)}
    if count > 45:
        extra = {"lab_subnet": "10.89.0.0/16"}
    else:
        extra = {}
    lab_vars = _lab_vars(tmp_path, **extra)
    run = run_playbook(LAB, inventory=_inventory(hosts), extra_vars=lab_vars)
    assert run.status == "failed"
    msg = _failure(run)
    assert f"has {count} nodes" in msg and "between 1 and 45" in msg
    assert _names(lab_vars["lab_name"]) == set()
    assert not (tmp_path / "state").exists()


def test_address_outside_the_subnet(tmp_path):
    run = run_playbook(
        LAB, inventory=_inventory({"n1": {"ansible_host": "192.0.2.7"}}), extra_vars=_lab_vars(tmp_path)
    )
    assert run.status == "failed"
    msg = _failure(run)
    assert "node 'n1'" in msg and "192.0.2.7" in msg and "lab_subnet" in msg


def test_duplicate_address(tmp_path):
    hosts = {"n1": {"ansible_host": "10.89.10.50"}, "n2": {"ansible_host": "10.89.10.50"}}
    run = run_playbook(LAB, inventory=_inventory(hosts), extra_vars=_lab_vars(tmp_path))
    assert run.status == "failed"
    assert "share an address" in _failure(run)


def test_name_clash_with_a_foreign_container(tmp_path):
    name = f"clash-{uuid.uuid4().hex[:6]}"
    # A container the lab does not own, running: it must survive the refused run.
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "localhost/scloud-node:latest", "sleep", "300"],
        check=True,
        capture_output=True,
    )
    try:
        run = run_playbook(
            LAB, inventory=_inventory({name: {"ansible_host": "10.89.10.60"}}), extra_vars=_lab_vars(tmp_path)
        )
        assert run.status == "failed"
        msg = _failure(run)
        assert name in msg and "do not belong to lab" in msg
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert state == "true"
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], check=False, capture_output=True)


def test_missing_package(tmp_path):
    tools = [
        {"path": "/usr/bin/podman", "package": "podman"},
        {"path": "/usr/bin/scloud-no-such-tool", "package": "scloud-no-such-package"},
    ]
    lab_vars = _lab_vars(tmp_path, lab_required_tools=tools)
    run = run_playbook(
        LAB, inventory=_inventory({"n1": {"ansible_host": "10.89.10.61"}}), extra_vars=lab_vars
    )
    assert run.status == "failed"
    msg = _failure(run)
    assert "scloud-no-such-package" in msg and "make install" in msg and "podman," not in msg
    assert _names(lab_vars["lab_name"]) == set()
