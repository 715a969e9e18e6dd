"""libvirt_secret against the real libvirtd: converge, value change, no_log, absent; read with virsh."""

from __future__ import annotations

import base64

import pytest

from tests.harness import run_module

pytestmark = [pytest.mark.libvirt]

MODULE = "scloud.stack.libvirt_secret"
USAGE = "client.scloudt-test secret"
KEY1 = base64.b64encode(b"scloudt-key-one-0123456789").decode()
KEY2 = base64.b64encode(b"scloudt-key-two-0123456789").decode()


def _converge(args, expect):
    check = run_module(MODULE, args, check=True)
    apply = run_module(MODULE, args)
    assert not check.failed and not apply.failed, (check.msg, apply.msg)
    assert check["actions"] == apply["actions"] == expect
    assert check["secret"] == apply["secret"]
    for again in (run_module(MODULE, args, check=True), run_module(MODULE, args)):
        assert not again.failed and not again.changed, again.result.get("actions")
    for run in (check, apply):
        assert KEY1 not in run.stdout and KEY2 not in run.stdout and KEY1 not in str(run.diff)
    return apply


def test_secret_lifecycle(libvirt_host):
    res = _converge({"usage_name": USAGE, "value": KEY1}, ["define", "set value"])
    uuid = res["secret"]["uuid"]
    assert uuid in libvirt_host.virsh("secret-list")
    assert libvirt_host.virsh("secret-get-value", uuid).strip() == KEY1
    res = _converge({"usage_name": USAGE, "value": KEY2}, ["set value"])
    assert res["secret"]["uuid"] == uuid
    assert libvirt_host.virsh("secret-get-value", uuid).strip() == KEY2
    _converge({"usage_name": USAGE, "state": "absent"}, ["undefine"])
    assert uuid not in libvirt_host.virsh("secret-list")


@pytest.mark.parametrize(
    "args, option, rule",
    [
        ({"value": "not base64!"}, "value", "must be base64"),
        ({}, "value", "is required with state=present"),
        ({"value": KEY1, "uuid": "nope"}, "uuid", "is not a UUID"),
    ],
)
def test_secret_bad_input(libvirt_host, args, option, rule):
    res = run_module(MODULE, {"usage_name": USAGE, **args})
    assert res.failed and res.msg.startswith(f"{option}:") and rule in res.msg, res.msg
    assert USAGE not in libvirt_host.virsh("secret-list")
