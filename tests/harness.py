"""Run a module or a playbook of the collection through ansible-runner, the way users do.

Every integration, API and benchmark test drives the real ``ansible-playbook`` through this
helper, so a test reads as: check mode, real run, idempotent check, idempotent run::

    r = run_module("scloud.stack.ceph_pool", {"name": "p"}, check=True)
    assert r.changed and not r.failed
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / "collections"
# Modules run on the target with Debian's Python, which has the engines' bindings
# (python3-rados, python3-libvirt, python3-openvswitch).
TARGET_PYTHON = "/usr/bin/python3"
LOCAL_INVENTORY = {
    "all": {
        "hosts": {
            "localhost": {
                "ansible_connection": "local",
                "ansible_python_interpreter": TARGET_PYTHON,
            }
        }
    }
}

# ansible-runner starts `ansible-playbook` from PATH: make it the one of this interpreter.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


def _envvars(extra=None):
    env = {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    env.update(extra or {})
    return env


@dataclass
class TaskResult:
    """What one task did on one host, read from the runner's events (never from stdout)."""

    changed: bool
    failed: bool
    msg: str | None
    result: dict
    diff: list = field(default_factory=list)
    status: str = ""
    stdout: str = ""

    def __getitem__(self, key):
        return self.result[key]


@dataclass
class PlaybookResult:
    status: str
    rc: int
    stats: dict
    events: list
    stdout: str

    @property
    def ok(self):
        return self.status == "successful" and self.rc == 0

    def changed_count(self, host=None):
        changed = self.stats.get("changed", {}) or {}
        if host is not None:
            return changed.get(host, 0)
        return sum(changed.values())

    def failed_count(self):
        failures = (self.stats.get("failures", {}) or {}).values()
        dark = (self.stats.get("dark", {}) or {}).values()
        return sum(failures) + sum(dark)

    def task_results(self, task_name=None):
        out = []
        for ev in self.events:
            if ev.get("event") not in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
                continue
            data = ev.get("event_data", {})
            if task_name is not None and data.get("task") != task_name:
                continue
            out.append({**data, "event": ev["event"]})
        return out


def run_playbook(
    playbook,
    *,
    inventory=None,
    extra_vars=None,
    check=False,
    diff=False,
    limit=None,
    tags=None,
    envvars=None,
    timeout=1800,
    verbosity=0,
):
    """Run ``playbook`` (a path, absolute or relative to the repository) and collect its events."""
    playbook = Path(playbook)
    if not playbook.is_absolute():
        playbook = REPO / playbook
    cmdline = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    with tempfile.TemporaryDirectory(prefix="scloud-runner-") as pdd:
        runner = ansible_runner.run(
            private_data_dir=pdd,
            playbook=str(playbook),
            inventory=inventory if inventory is not None else LOCAL_INVENTORY,
            extravars=extra_vars or {},
            limit=limit,
            tags=tags,
            cmdline=" ".join(cmdline) or None,
            envvars=_envvars(envvars),
            quiet=True,
            timeout=timeout,
            verbosity=verbosity,
            project_dir=str(REPO),
        )
        events = list(runner.events)
        stdout = runner.stdout.read()
        return PlaybookResult(
            status=runner.status, rc=runner.rc, stats=runner.stats or {}, events=events, stdout=stdout
        )


def run_module(
    module,
    args=None,
    *,
    check=False,
    diff=True,
    hosts="localhost",
    inventory=None,
    extra_vars=None,
    envvars=None,
    become=False,
    timeout=900,
):
    """Run one task ``module: args`` and return its :class:`TaskResult` on the first host."""
    task = {"name": "module", module: args or {}}
    play = [{"hosts": hosts, "gather_facts": False, "become": become, "tasks": [task]}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="scloud-task-", delete=False) as fh:
        json.dump(play, fh)  # JSON is YAML
        path = fh.name
    try:
        run = run_playbook(
            path,
            inventory=inventory,
            extra_vars=extra_vars,
            check=check,
            diff=diff,
            envvars=envvars,
            timeout=timeout,
        )
    finally:
        os.unlink(path)
    results = run.task_results("module")
    if not results:
        raise RuntimeError(f"the task did not run (status {run.status}):\n{run.stdout[-4000:]}")
    data = results[0]
    res = data.get("res", {}) or {}
    failed = data["event"] != "runner_on_ok" or bool(res.get("failed")) or bool(res.get("unreachable"))
    diff_val = res.get("diff", [])
    if isinstance(diff_val, dict):
        diff_val = [diff_val]
    return TaskResult(
        changed=bool(res.get("changed")),
        failed=failed,
        msg=res.get("msg"),
        result=res,
        diff=diff_val,
        status=run.status,
        stdout=run.stdout,
    )


def converge(module, args, **kw):
    """The four runs every module test does; returns them as a dict for assertions.

    check -> real -> check again -> real again. The caller asserts, e.g.::

        runs = converge("scloud.stack.ovs_bridge", {"name": "br-x"})
        assert runs["check"].changed and runs["apply"].changed
        assert not runs["check_again"].changed and not runs["apply_again"].changed
    """
    runs = {}
    for name, check in (("check", True), ("apply", False), ("check_again", True), ("apply_again", False)):
        runs[name] = run_module(module, args, check=check, **kw)
        if runs[name].failed:
            raise AssertionError(f"{module} {name} failed: {runs[name].msg}\n{runs[name].result}")
    return runs


def run_tasks(tasks, **kw):
    """Run ``[(module, args), ...]`` as one play; fail on the first failed task. Returns results."""
    return _play([{"name": f"case {i}", module: args} for i, (module, args) in enumerate(tasks)], **kw)


def run_cases(module, cases, **kw):
    """Run one task per ``args`` of ``cases`` in ONE playbook (ignore_errors), for bad-input tables.

    Returns one TaskResult per case, in order. One ansible-playbook start instead of one per case
    keeps the tier fast; every case still reaches the module on its own.
    """
    return _play(
        [{"name": f"case {i}", module: args, "ignore_errors": True} for i, args in enumerate(cases)], **kw
    )


def _play(tasks, **kw):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="scloud-cases-", delete=False) as fh:
        json.dump(play, fh)
        path = fh.name
    try:
        run = run_playbook(path, diff=True, **kw)
    finally:
        os.unlink(path)
    by_name = {}
    for ev in run.events:
        if ev.get("event") in ("runner_on_ok", "runner_on_failed"):
            data = ev["event_data"]
            res = data.get("res", {}) or {}
            by_name[data.get("task")] = TaskResult(
                changed=bool(res.get("changed")),
                failed=ev["event"] == "runner_on_failed",
                msg=res.get("msg"),
                result=res,
                status=run.status,
            )
    missing = [i for i in range(len(tasks)) if f"case {i}" not in by_name]
    if missing:
        raise AssertionError(f"cases {missing} did not run:\n{run.stdout[-3000:]}")
    return [by_name[f"case {i}"] for i in range(len(tasks))]


def assert_refused(results, expectations):
    """Each result failed with a message starting ``option:`` and containing ``words``."""
    for result, (option, words) in zip(results, expectations, strict=True):
        assert result.failed, f"expected {option!r} to be refused, got {result.result}"
        assert result.msg.startswith(f"{option}:") and words in result.msg, result.msg


def head_snapshot(dest: Path) -> str:
    """Extract the committed tree (`git archive HEAD`) into ``dest``: the release the lab tests
    deploy as `mgmt_api_source_dir`, so uncommitted edits never change the release under test."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True)
    tar = dest.parent / f"{dest.name}.tar"
    tar.write_bytes(archive.stdout)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    return str(dest)


def node_exec(name: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command in a lab node container (`podman exec`), output captured as text."""
    return subprocess.run(["podman", "exec", name, *argv], check=check, capture_output=True, text=True)


def containers_running(names) -> bool:
    """True when every container named is running on this machine."""
    out = subprocess.run(["podman", "ps", "--format", "{{.Names}}"], capture_output=True, text=True)
    return set(names) <= set(out.stdout.split())
