"""ovn_chassis against a real ovsdb-server holding an Open_vSwitch database, verified with ovs-vsctl.

The module writes the root row's external_ids, which the session's shared Open vSwitch (the `ovs`
fixture) uses for the OVN fixture's own chassis: these tests run their own ovsdb-server on a socket
of their own, so the shared chassis is never renamed or pointed elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.harness import assert_refused, converge, run_cases, run_module

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_chassis"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class Db:
    def __init__(self, sock):
        self.remote = f"unix:{sock}"

    def vsctl(self, *args):
        return subprocess.run(
            ["ovs-vsctl", f"--db={self.remote}", "--timeout=10", "--no-wait", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def ids(self):
        out = self.vsctl("--format=json", "--columns=external_ids", "list", "Open_vSwitch")
        return dict(json.loads(out)["data"][0][0][1])


@pytest.fixture
def db(tmp_path):
    """ovsdb-server alone (no ovs-vswitchd: the module does not wait for it) on a fresh database,
    initialised like a node's, with a key ovn-controller writes itself."""
    conf, sock, pid = tmp_path / "conf.db", tmp_path / "db.sock", tmp_path / "ovsdb.pid"
    subprocess.run(["ovsdb-tool", "create", str(conf), SCHEMA], check=True)
    subprocess.run(
        [
            "ovsdb-server",
            str(conf),
            f"--remote=punix:{sock}",
            f"--pidfile={pid}",
            f"--unixctl={tmp_path / 'ovsdb.ctl'}",
            "--detach",
            "--no-chdir",
            f"--log-file={tmp_path / 'ovsdb.log'}",
        ],
        check=True,
    )
    for _ in range(100):
        if sock.exists():
            break
        time.sleep(0.05)
    engine = Db(sock)
    engine.vsctl("init")
    engine.vsctl(
        "set", "Open_vSwitch", ".", "external_ids:hostname=node-x", "external_ids:rundir=/var/run/openvswitch"
    )
    yield engine
    subprocess.run(["kill", pid.read_text().strip()], check=False)


def test_chassis_configured_changed_and_removed(db):
    args = {
        "ovsdb_remote": db.remote,
        "system_id": "node-x",
        "central": ["10.0.0.11", "10.0.0.12", "fd00::13"],
        "encap_type": "geneve",
        "encap_ip": "10.1.0.21",
        "bridge_mappings": [{"network": "public", "bridge": "br-ex"}],
        "datapath_type": "netdev",
    }
    runs = converge(M, args)
    assert runs["check"].changed and runs["apply"].changed
    assert not runs["check_again"].changed and not runs["apply_again"].changed
    assert runs["check"]["chassis"] == runs["apply"]["chassis"] == runs["apply_again"]["chassis"]
    assert runs["check"].diff[0]["before"] == {}
    ids = db.ids()
    assert ids == {
        "hostname": "node-x",
        "rundir": "/var/run/openvswitch",
        "system-id": "node-x",
        "ovn-remote": "tcp:10.0.0.11:6642,tcp:10.0.0.12:6642,tcp:[fd00::13]:6642",
        "ovn-encap-type": "geneve",
        "ovn-encap-ip": "10.1.0.21",
        "ovn-bridge-mappings": "public:br-ex",
        "ovn-bridge-datapath-type": "netdev",
    }

    # What expand.yml and remove_node.yml do: only the remote changes; check mode predicts it.
    shrink = {"ovsdb_remote": db.remote, "central": ["10.0.0.11"], "tls": True, "sb_port": 16642}
    r = run_module(M, shrink, check=True, diff=True)
    assert r.changed and r["chassis"]["ovn-remote"] == "ssl:10.0.0.11:16642"
    assert db.ids()["ovn-remote"].startswith("tcp:10.0.0.11:6642,")
    r = run_module(M, shrink, diff=True)
    assert r.changed and r.diff[0]["before"]["ovn-remote"] != r.diff[0]["after"]["ovn-remote"]
    assert {k: v for k, v in r.diff[0]["after"].items() if k != "ovn-remote"} == {
        k: v for k, v in r.diff[0]["before"].items() if k != "ovn-remote"
    }
    assert db.ids()["ovn-remote"] == "ssl:10.0.0.11:16642" and db.ids()["system-id"] == "node-x"
    assert not run_module(M, shrink).changed

    absent = {"ovsdb_remote": db.remote, "state": "absent"}
    runs = converge(M, absent)
    assert runs["check"].changed and runs["apply"].changed and not runs["apply_again"].changed
    assert db.ids() == {"hostname": "node-x", "rundir": "/var/run/openvswitch"}


BAD = [
    ({"central": []}, "central", "at least one"),
    ({"central": ["10.0.0.1", "10.0.0.1"]}, "central", "twice"),
    ({"central": ["not an address"]}, "central", "neither an IP address nor a host name"),
    ({"remote": "http://x"}, "remote", "not an OVSDB remote"),
    ({"system_id": "bad id"}, "system_id", "not a chassis name"),
    ({"encap_ip": "10.0.0.300"}, "encap_ip", "not an IP address"),
    ({"sb_port": 70000, "central": ["10.0.0.1"]}, "sb_port", "not a TCP port"),
    (
        {
            "bridge_mappings": [
                {"network": "public", "bridge": "br-ex"},
                {"network": "public", "bridge": "br-2"},
            ]
        },
        "bridge_mappings[1].network",
        "mapped twice",
    ),
    (
        {"bridge_mappings": [{"network": "public", "bridge": "a-bridge-name-too-long"}]},
        "bridge_mappings[0].bridge",
        "not a bridge name",
    ),
    ({}, "state", "at least one setting"),
]


def test_bad_input_fails_before_touching(db):
    before = db.ids()
    results = run_cases(M, [dict(args, ovsdb_remote=db.remote) for args, _, _ in BAD])
    assert_refused(results, [(option, words) for _, option, words in BAD])
    assert db.ids() == before
