"""The action group ``scloud.stack.ceph``: ``module_defaults`` sets the connection of every Ceph
module once, against the real cluster.

The test cluster's ``ceph.conf`` and keyring live in a private directory and its monitor listens on
a random port: a module reaches it only with the ``conf``/``keyring`` the group's defaults give.
"""

from __future__ import annotations

import json
import os
import tempfile

import pytest

from tests.harness import run_playbook

pytestmark = pytest.mark.ceph
POOL = "t-group"


@pytest.fixture
def play_file():
    fd, path = tempfile.mkstemp(suffix=".yml", prefix="scloud-group-")
    os.close(fd)
    yield path
    os.unlink(path)


@pytest.fixture
def clean_pool(ceph_cluster):
    yield
    ceph_cluster.ceph("osd", "pool", "rm", POOL, POOL, "--yes-i-really-really-mean-it", check=False)


def _run(path, play, check=False):
    with open(path, "w") as fh:
        json.dump([play], fh)  # JSON is YAML
    run = run_playbook(path, check=check)
    results = {}
    for ev in run.events:
        if ev.get("event") in ("runner_on_ok", "runner_on_failed"):
            data = ev["event_data"]
            results[data["task"]] = (ev["event"] == "runner_on_failed", data.get("res") or {})
    return run, results


def test_group_module_defaults_connect_every_ceph_module(ceph_cluster, play_file, clean_pool):
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/scloud.stack.ceph": ceph_cluster.module_args},
        "tasks": [
            {"name": "pool", "scloud.stack.ceph_pool": {"name": POOL, "pg_num": 8, "application": ["rbd"]}},
            {"name": "image", "scloud.stack.rbd_image": {"pool": POOL, "name": "disk1", "size": "64M"}},
            {"name": "info", "scloud.stack.ceph_info": {}},
        ],
    }
    # Real run, then check mode and a second run that change nothing. (A first check-mode run of
    # the play cannot predict the image: its pool does not exist yet.)
    for check, changed in ((False, True), (True, False), (False, False)):
        run, results = _run(play_file, play, check=check)
        assert run.ok, run.stdout[-3000:]
        for task in ("pool", "image"):
            failed, res = results[task]
            assert not failed and res["changed"] is changed, (check, task, res)
            # The connection came from the group's defaults, not from the task.
            assert res["invocation"]["module_args"]["conf"] == ceph_cluster.conf
            assert res["invocation"]["module_args"]["keyring"] == ceph_cluster.keyring
        failed, info = results["info"]
        assert not failed and info["mon_round_trips"] == 4, info
    assert POOL in [p["name"] for p in info["pools"]]

    # Independent reads through the CLI.
    pool = next(p for p in ceph_cluster.ceph("osd", "pool", "ls", "detail") if p["pool_name"] == POOL)
    assert pool["pg_num"] == 8 and list(pool["application_metadata"]) == ["rbd"]
    assert ceph_cluster.rbd("info", f"{POOL}/disk1")["size"] == 64 * 1024**2


def test_task_options_override_the_group_defaults(ceph_cluster, play_file):
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/scloud.stack.ceph": ceph_cluster.module_args},
        "tasks": [
            {
                "name": "info",
                "scloud.stack.ceph_info": {"conf": "/nonexistent/ceph.conf"},
                "ignore_errors": True,
            }
        ],
    }
    _play_run, results = _run(play_file, play)
    failed, res = results["info"]
    assert failed and "cannot connect" in res["msg"] and "/nonexistent/ceph.conf" in res["msg"], res
