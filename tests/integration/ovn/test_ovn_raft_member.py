"""ovn_raft_member against a real RAFT cluster: three ovsdb-servers of OVN_Northbound on loopback,
one made to leave; the members that stay commit the smaller cluster and keep a leader.

The cluster is the test's own (its own files, sockets and ports), not the session's OVN fixture.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.harness import assert_refused, run_cases, run_module

pytestmark = pytest.mark.ovs
M = "scloud.stack.ovn_raft_member"
SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _appctl(ctl, *args):
    return subprocess.run(["ovn-appctl", "-t", str(ctl), *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def cluster(tmp_path):
    """Three servers: 1 creates the cluster, 2 and 3 join it."""
    addrs = [f"tcp:127.0.0.1:{_port()}" for _ in range(3)]
    servers = []
    for i, addr in enumerate(addrs):
        db = tmp_path / f"nb{i}.db"
        if i == 0:
            subprocess.run(
                ["ovsdb-tool", "create-cluster", str(db), SCHEMA, addr], check=True, capture_output=True
            )
        else:
            subprocess.run(
                ["ovsdb-tool", "join-cluster", str(db), "OVN_Northbound", addr, addrs[0]],
                check=True,
                capture_output=True,
            )
        ctl, pid = tmp_path / f"nb{i}.ctl", tmp_path / f"nb{i}.pid"
        subprocess.run(
            [
                "ovsdb-server",
                str(db),
                f"--remote=punix:{tmp_path / f'nb{i}.sock'}",
                f"--unixctl={ctl}",
                f"--pidfile={pid}",
                "--detach",
                "--no-chdir",
                f"--log-file={tmp_path / f'nb{i}.log'}",
            ],
            check=True,
            capture_output=True,
        )
        servers.append({"ctl": ctl, "pid": pid, "address": addr})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = _appctl(servers[0]["ctl"], "cluster/status", "OVN_Northbound").stdout
        if all(s["address"] in out for s in servers) and "Role: leader" in out:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the three servers did not form a cluster:\n{out}")
    yield servers
    for s in servers:
        if s["pid"].exists():
            subprocess.run(["kill", s["pid"].read_text().strip()], check=False)


def test_server_leaves_and_the_others_keep_a_leader(cluster):
    leaving = cluster[2]
    args = {"database": "OVN_Northbound", "ctl": str(leaving["ctl"])}

    kept = run_module(M, dict(args, state="present"))
    assert not kept.failed and not kept.changed, kept.msg
    assert kept["member"]["status"] == "cluster member" and kept["member"]["address"] == leaving["address"]
    assert len(kept["member"]["servers"]) == 3

    check = run_module(M, dict(args, state="absent"), check=True, diff=True)
    assert check.changed and check["member"] == {"status": "left"}
    assert check.diff[0]["before"]["status"] == "cluster member"
    assert "Status: cluster member" in _appctl(leaving["ctl"], "cluster/status", "OVN_Northbound").stdout

    left = run_module(M, dict(args, state="absent"))
    assert left.changed and left["member"] == {"status": "left"}, left.result
    status = _appctl(cluster[0]["ctl"], "cluster/status", "OVN_Northbound").stdout
    assert leaving["address"] not in status and cluster[1]["address"] in status
    assert (
        "Role: leader" in status
        or "Role: leader" in _appctl(cluster[1]["ctl"], "cluster/status", "OVN_Northbound").stdout
    )

    # Again: nothing to do, in check mode or not. Present is refused, with how to join anew.
    for check_mode in (True, False):
        again = run_module(M, dict(args, state="absent"), check=check_mode)
        assert not again.failed and not again.changed, again.msg
    res = run_module(M, dict(args, state="present"))
    assert res.failed and res.msg.startswith("state:") and "cannot join with the same database" in res.msg


def test_bad_input_and_a_stopped_server(cluster, tmp_path):
    before = _appctl(cluster[0]["ctl"], "cluster/status", "OVN_Northbound").stdout
    results = run_cases(
        M,
        [
            {"database": "OVN_Northbound", "ctl": str(cluster[1]["ctl"]), "state": "absent", "timeout": 0},
        ],
    )
    assert_refused(results, [("timeout", "1 or more")])
    res = run_module(M, {"database": "OVN_Northbound", "ctl": str(tmp_path / "none.ctl"), "state": "absent"})
    assert res.failed and "the database server is not running on this node" in res.msg
    after = _appctl(cluster[0]["ctl"], "cluster/status", "OVN_Northbound").stdout
    assert all(s["address"] in after for s in cluster)
    assert before.count(" at tcp:") == after.count(" at tcp:") == 3
