"""Shared helpers of the Ceph module tests: connection args from the fixture, four-run converge."""

from __future__ import annotations

from tests.harness import converge, run_module


def args(cluster, **options):
    return {**cluster.module_args, **options}


def converge4(module, module_args):
    """check, apply, check again, apply again; asserts the contract every module keeps."""
    runs = converge(module, module_args)
    _assert_succeeded(runs)
    assert runs["check"].changed, runs["check"].result
    assert runs["apply"].changed, runs["apply"].result
    assert not runs["check_again"].changed, runs["check_again"].result
    assert not runs["apply_again"].changed, runs["apply_again"].result
    return runs


def converge_noop(module, module_args):
    runs = converge(module, module_args)
    _assert_succeeded(runs)
    assert not any(r.changed for r in runs.values()), {k: r.result for k, r in runs.items()}
    return runs


def run(module, module_args, check=False):
    return run_module(module, module_args, check=check)


def assert_fails(result, option, *fragments):
    """The task failed, and its message names the option and the rule."""
    assert result.failed, result.result
    assert result.msg.startswith(f"{option}:"), result.msg
    for fragment in fragments:
        assert fragment in result.msg, result.msg


def _assert_succeeded(runs):
    for name, res in runs.items():
        assert res.status == "successful", f"{name}: {res.msg}\n{res.result}"


def run_tasks(module, named_args, check=False):
    """Run several tasks of ``module`` in ONE ansible-playbook (failures ignored) and return
    ``{name: (failed, msg, result)}``: bad-input tables cost one playbook start, not one per row."""
    import json
    import os
    import tempfile

    from tests.harness import run_playbook

    tasks = [{"name": name, module: a, "ignore_errors": True} for name, a in named_args.items()]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="scloud-ceph-", delete=False) as fh:
        json.dump(play, fh)
    try:
        pb = run_playbook(fh.name, check=check)
    finally:
        os.unlink(fh.name)
    out = {}
    for ev in pb.events:
        if ev.get("event") in ("runner_on_ok", "runner_on_failed"):
            data = ev["event_data"]
            res = data.get("res", {})
            out[data["task"]] = (ev["event"] == "runner_on_failed", res.get("msg", ""), res)
    missing = set(named_args) - set(out)
    assert not missing, f"tasks did not run: {missing}\n{pb.stdout[-3000:]}"
    return out
