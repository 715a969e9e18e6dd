import pytest
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.domain import DomainTask
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.spec import build_spec


def runner(**params):
    return DomainTask({"allow_restart": False, **params})


@pytest.mark.parametrize(
    "current, target, pending, allow, ops",
    [
        ("shutoff", "running", False, False, ["start"]),
        ("running", "running", False, False, []),
        ("running", "running", True, False, []),
        ("running", "running", True, True, ["restart"]),
        ("paused", "running", False, False, ["resume"]),
        ("shutoff", "paused", False, False, ["start paused"]),
        ("running", "paused", False, False, ["suspend"]),
        ("running", "paused", True, True, ["restart", "suspend"]),
        ("running", "shutoff", True, True, ["shutdown"]),
        ("shutoff", "shutoff", True, True, []),
    ],
)
def test_state_transitions(current, target, pending, allow, ops):
    assert runner(allow_restart=allow)._plan_state(current, target, pending) == ops


def _spec(**kw):
    return build_spec({"name": "vm1", "state": "running", "memory": "512M", **kw})


def test_pending_ignores_the_balloon_and_names_restart_fields():
    desired = _spec(vcpus=2, max_vcpus=4, max_memory="1G")
    live = dict(desired, memory=400 * 1024, max_vcpus=2)
    assert runner()._pending(live, desired, desired) == ["max_vcpus"]
    assert runner()._pending(dict(desired, memory=1), desired, desired) == []
    assert runner()._pending(None, desired, desired) == []
