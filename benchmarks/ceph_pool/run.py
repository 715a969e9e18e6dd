"""No-op ``ceph_pool`` on an existing pool against the ``ceph`` CLI sequence a CLI-based module runs.

Both sides run in one process against one fresh cluster (the test fixture's), N times each:

* ``ceph_pool`` task: the real module through ansible-playbook (check of an unchanged pool).
* ``ceph_pool`` logic: the module's own read/compare over one librados session, without Ansible
  (Debian's ``/usr/bin/python3``, like on a target).
* CLI sequence: ``ceph osd pool stats``, ``osd pool ls detail``, ``osd crush rule dump``,
  ``osd pool application get``: one process, one connection and one cephx handshake each.

Usage: ``.venv/bin/python benchmarks/ceph_pool/run.py [--runs N]``; writes ``RESULTS.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.harness import run_module  # noqa: E402
from tests.integration.engines.ceph import CephCluster  # noqa: E402

POOL = "bench"
ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
CLI_SEQUENCE = [
    ["osd", "pool", "stats", POOL],
    ["osd", "pool", "ls", "detail"],
    ["osd", "crush", "rule", "dump"],
    ["osd", "pool", "application", "get", POOL],
]
# The module's logic alone, on the target's Python: one session, read, compare, nothing to do.
LOGIC = """
import json, sys, time
sys.path.insert(0, {collections!r})
from ansible_collections.scloud.stack.plugins.module_utils._ceph import pool
from ansible_collections.scloud.stack.plugins.module_utils._ceph.connection import CephSession
params = {params!r}
times, trips = [], []
for _ in range({runs}):
    t = time.perf_counter()
    with CephSession(conf=params["conf"], keyring=params["keyring"]) as s:
        pool.validate_params(params)
        r = pool.converge(s, params, check_mode=False)
        assert not r["changed"], r
        trips.append(s.round_trips)
    times.append(time.perf_counter() - t)
print(json.dumps({{"times": times, "round_trips": trips}}))
"""


def pool_params(cluster):
    return {
        "name": POOL,
        "state": "present",
        "pool_type": "replicated",
        "size": 3,
        "min_size": 2,
        "pg_num": 8,
        "pgp_num": None,
        "pg_autoscale_mode": "off",
        "target_size_ratio": None,
        "crush_rule": "replicated_rule",
        "erasure_profile": None,
        "application": ["rbd"],
        "quota_max_bytes": 0,
        "quota_max_objects": 0,
        "allow_delete": False,
        "conf": cluster.conf,
        "keyring": cluster.keyring,
    }


def median_ms(values):
    return round(statistics.median(values) * 1000, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    opts = parser.parse_args()

    cluster = CephCluster()
    try:
        cluster.start()
        cluster.create_pool(POOL, pg_num=8, application="rbd")
        params = pool_params(cluster)
        module_args = {k: v for k, v in params.items() if v is not None}

        # 1. the task through Ansible
        task_times, task_trips = [], []
        for _ in range(opts.runs):
            t = time.perf_counter()
            res = run_module("scloud.stack.ceph_pool", module_args, envvars=ENV)
            task_times.append(time.perf_counter() - t)
            assert not res.changed and not res.failed, res.result
            task_trips.append(res.result["mon_round_trips"])

        # 2. the module's logic alone on the target's Python
        script = LOGIC.format(collections=str(REPO / "collections"), params=params, runs=opts.runs)
        out = subprocess.run(["/usr/bin/python3", "-c", script], capture_output=True, text=True, check=True)
        logic = json.loads(out.stdout)

        # 3. the CLI sequence a CLI-based module runs for the same check
        cli_times = []
        for _ in range(opts.runs):
            t = time.perf_counter()
            for argv in CLI_SEQUENCE:
                cluster.ceph(*argv)
            cli_times.append(time.perf_counter() - t)

        rows = {
            "ceph_pool task (ansible-playbook, one librados session)": (
                median_ms(task_times),
                task_trips[0],
                1,
                1,
            ),
            "ceph_pool logic alone (librados, /usr/bin/python3)": (
                median_ms(logic["times"]),
                logic["round_trips"][0],
                1,
                1,
            ),
            "CLI sequence (4 x `ceph ... -f json`)": (
                median_ms(cli_times),
                len(CLI_SEQUENCE),
                len(CLI_SEQUENCE),
                len(CLI_SEQUENCE),
            ),
        }
        logic_ms, cli_ms = rows["ceph_pool logic alone (librados, /usr/bin/python3)"][0], median_ms(cli_times)
        lines = [
            "## ceph_pool: no-op on an existing pool vs the `ceph` CLI sequence",
            "",
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the test cluster (1 mon, 1 mgr, "
            f"3 bluestore OSDs on 127.0.0.1), {opts.runs} runs each, medians. Command: "
            "`.venv/bin/python benchmarks/ceph_pool/run.py`.",
            "",
            "| what | median wall time (ms) | monitor commands | processes "
            "| mon sessions (cephx handshakes) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, (ms, cmds, procs, sessions) in rows.items():
            lines.append(f"| {name} | {ms} | {cmds} | {procs} | {sessions} |")
        lines += [
            "",
            f"Same check, logic against logic: the CLI sequence takes **{cli_ms / logic_ms:.1f}x** "
            f"the time of the module's librados session ({cli_ms} ms vs {logic_ms} ms) and sends "
            f"{len(CLI_SEQUENCE)} monitor commands over {len(CLI_SEQUENCE)} connections against "
            f"{logic['round_trips'][0]} over one.",
            "",
            "The `ceph_pool` task row is the whole Ansible task (playbook start, module transfer, one "
            "session); a CLI-based module pays the same Ansible overhead plus the CLI row.",
            "",
            f"Cluster start-up (fixture): {cluster.start_seconds:.1f} s.",
        ]
        text = "\n".join(lines) + "\n"
        (Path(__file__).parent / "RESULTS.md").write_text(text)
        sys.stdout.write(text)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
