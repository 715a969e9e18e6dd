"""The chassis settings of the ovn_controller role, against a real (private) Open vSwitch database.

The role's package and service tasks need systemd (Molecule covers them on lab nodes); its
chassis tasks (one read, one ``ovs-vsctl set`` only when something differs, the file that keeps the
chassis name across restarts) run here against an ovsdb-server and a directory of the test's own,
so neither the shared fixture's chassis nor this machine's /etc/openvswitch is touched.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.harness import run_playbook

pytestmark = pytest.mark.ovs


@pytest.fixture
def private_ovsdb():
    with tempfile.TemporaryDirectory(prefix="scloud-ovsdb-") as tmp:
        db, sock, pid = Path(tmp) / "conf.db", Path(tmp) / "db.sock", Path(tmp) / "ovsdb.pid"
        schema = "/usr/share/openvswitch/vswitch.ovsschema"
        subprocess.run(["ovsdb-tool", "create", str(db), schema], check=True)
        subprocess.run(
            [
                "ovsdb-server",
                str(db),
                f"--remote=punix:{sock}",
                f"--pidfile={pid}",
                f"--unixctl={Path(tmp) / 'ctl'}",
                "--detach",
                "--no-chdir",
            ],
            check=True,
        )
        try:
            while not sock.exists():
                time.sleep(0.05)
            subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "init"], check=True)
            yield f"unix:{sock}"
        finally:
            subprocess.run(["ovs-appctl", "-t", str(Path(tmp) / "ctl"), "exit"], capture_output=True)


def test_chassis_settings_applied_once(private_ovsdb):
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "chassis",
                    "ansible.builtin.include_role": {
                        "name": "scloud.stack.ovn_controller",
                        "tasks_from": "chassis",
                    },
                    "vars": {
                        "ovn_controller_ovsdb": private_ovsdb,
                        "ovn_controller_remote": "tcp:192.0.2.1:6642,tcp:192.0.2.2:6642",
                        "ovn_controller_system_id": "role-test-chassis",
                        "ovn_controller_encap_ip": "192.0.2.50",
                        "ovn_controller_datapath_type": "netdev",
                        "ovn_controller_bridge_mappings": [{"network": "physnet1", "bridge": "br-ex"}],
                    },
                }
            ],
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        system_id_file = Path(tmp) / "system-id.conf"
        play[0]["tasks"][0]["vars"]["ovn_controller_system_id_file"] = str(system_id_file)
        path = Path(tmp) / "play.yml"
        path.write_text(json.dumps(play))
        check = run_playbook(path, check=True)
        assert check.ok, check.stdout[-3000:]
        # Check mode predicts both changes (the settings, the file) and makes neither.
        assert check.changed_count() == 2, check.stdout[-3000:]
        assert not system_id_file.exists()
        first = run_playbook(path)
        assert first.ok, first.stdout[-3000:]
        assert first.changed_count() == 2
        assert system_id_file.read_text() == "role-test-chassis\n"
        ids = subprocess.run(
            ["ovs-vsctl", f"--db={private_ovsdb}", "get", "Open_vSwitch", ".", "external_ids"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for expected in (
            'ovn-remote="tcp:192.0.2.1:6642,tcp:192.0.2.2:6642"',
            "system-id=role-test-chassis",
            'ovn-encap-ip="192.0.2.50"',
            'ovn-bridge-mappings="physnet1:br-ex"',
            "ovn-encap-type=geneve",
            "ovn-bridge-datapath-type=netdev",
        ):
            assert expected in ids, ids
        second = run_playbook(path)
        assert second.ok and second.changed_count() == 0, second.stdout[-3000:]
