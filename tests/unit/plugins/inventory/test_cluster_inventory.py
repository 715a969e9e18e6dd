"""The inventory plugin through ansible-inventory, on the shipped cluster files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")


def _plain(value):
    """ansible-inventory marks strings that are not templates as {"__ansible_unsafe": ...}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _inventory(path):
    out = subprocess.run(
        [ANSIBLE_INVENTORY, "-i", str(path), "--list"], capture_output=True, text=True, cwd=REPO, check=False
    )
    return out


def _resolved(inventory, host, expression):
    """The value of a Jinja ``expression`` for ``host``, templated by Ansible (ad-hoc debug)."""
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "-i",
            str(inventory),
            host,
            "-m",
            "debug",
            "-a",
            "msg={{ " + expression + " | to_json }}",
            "-o",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(json.loads(out.stdout.split(" => ", 1)[1])["msg"])


def test_lab_inventory():
    out = _inventory(REPO / "inventories" / "lab")
    assert out.returncode == 0, out.stderr
    data = _plain(json.loads(out.stdout))
    # Two racks in two datacenters: the backups pool keeps one copy in each (group_vars/lab.yml).
    assert data["lab"]["children"] == ["dc_dc1", "dc_dc2"]
    assert data["dc_dc1"]["children"] == ["rack_r1"] and data["dc_dc2"]["children"] == ["rack_r2"]
    assert sorted(data["rack_r1"]["hosts"]) == ["scloud-node1", "scloud-node2"]
    assert data["rack_r2"]["hosts"] == ["scloud-node3"]
    hv = data["_meta"]["hostvars"]["scloud-node3"]
    assert hv["ansible_host"] == "10.89.10.13"


def test_group_and_template_vars_resolve_per_host():
    got = _resolved(
        REPO / "inventories" / "example",
        "cmp2",
        "[ceph_crush_location, scloud_roles, scloud_set, scloud_rack, scloud_datacenter]",
    )
    assert got == [
        {"datacenter": "dc2", "rack": "dc2-r2", "host": "cmp2"},
        ["compute"],
        "set2",
        "dc2-r2",
        "dc2",
    ]
    assert _resolved(REPO / "inventories" / "example", "hci1", "scloud_roles") == ["compute", "storage"]


def test_example_inventory():
    out = _inventory(REPO / "inventories" / "example")
    assert out.returncode == 0, out.stderr
    data = _plain(json.loads(out.stdout))
    assert sorted(data["mgmt"]["hosts"]) == ["mgmt1", "mgmt2", "mgmt3"]
    assert sorted(data["set_set2"]["hosts"]) == ["cmp1", "cmp2", "stor1", "stor2", "stor3"]
    assert data["_meta"]["hostvars"]["hci1"]["scloud_overlay_address"] == "10.20.1.21"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "cluster: {name: x}\ndatacenters:\n - name: d\n   racks:\n    - name: r\n      nodes:\n"
            "       - {name: a, address: 10.0.0.1, roles: [mgmt]}\n"
            "       - {name: a, address: 10.0.0.2, roles: [mgmt]}\n",
            "is already the name of",
        ),
        (
            "cluster: {name: x}\ndatacenters:\n - name: d\n   racks:\n    - name: r\n      nodes:\n"
            "       - {name: a, address: 10.0.0.1, roles: []}\n",
            "a node needs at least one role",
        ),
    ],
)
def test_bad_file_fails_with_the_rule(tmp_path, body, message):
    path = tmp_path / "cluster.yml"
    path.write_text("plugin: scloud.stack.cluster\n" + body)
    out = _inventory(path)
    # ansible-inventory only warns for an unparsable source; the rule must be in what it says.
    assert message in out.stderr
    assert "a" not in json.loads(out.stdout or "{}").get("_meta", {}).get("hostvars", {})
