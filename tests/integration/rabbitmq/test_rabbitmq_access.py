"""rabbitmq_access against a real RabbitMQ broker: check mode, converge, re-run, password and
permission changes, bad input; read back with rabbitmqctl and by logging in over AMQP."""

from __future__ import annotations

import json
import os
import subprocess

import kombu
import pytest

from tests.harness import run_module
from tests.integration.engines.rabbitmq import running_broker

MODULE = "scloud.stack.rabbitmq_access"
# Debian's /usr/sbin/rabbitmqctl becomes the rabbitmq user (its home, its cookie); the test broker's
# cookie is in the broker's own home (ctl_env), which the program itself reads.
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
PASSWORD1 = "first-password-0123"
PASSWORD2 = "second-password-4567"


@pytest.fixture(scope="module")
def broker():
    with running_broker() as b:
        yield b


def _ctl(broker, *args):
    out = subprocess.run(
        [RABBITMQCTL, "--quiet", "-n", broker.node, *args, "--formatter", "json"],
        env={**os.environ, **broker.ctl_env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out or "[]")


def _run(broker, args, check=False):
    args = {"node": broker.node, "rabbitmqctl": RABBITMQCTL, **args}
    return run_module(MODULE, args, check=check, envvars=broker.ctl_env)


def _converge(broker, args, expect):
    """Check mode predicts exactly what the run does; both runs again change nothing; the password
    shows nowhere."""
    check = _run(broker, args, check=True)
    apply = _run(broker, args)
    assert not check.failed and not apply.failed, (check.msg, apply.msg)
    assert check["actions"] == apply["actions"] == expect
    assert check.changed == apply.changed == bool(expect)
    for again in (_run(broker, args, check=True), _run(broker, args)):
        assert not again.failed and not again.changed and again["actions"] == [], again.result
    for run in (check, apply):
        assert PASSWORD1 not in run.stdout + json.dumps(run.result) + str(run.diff)
        assert PASSWORD2 not in run.stdout + json.dumps(run.result) + str(run.diff)
    return apply


def _login(broker, vhost, user, password):
    # broker.url ends with "//" (the vhost "/"): keep one slash, then the vhost.
    url = broker.url.replace("guest:guest@", f"{user}:{password}@")[:-1] + vhost
    with kombu.Connection(url, connect_timeout=5) as conn:
        conn.connect()


def test_access_lifecycle(broker):
    args = {"vhost": "scloudt", "user": "scloudt", "password": PASSWORD1, "absent_users": ["guest"]}
    res = _converge(
        broker,
        args,
        ["add_vhost scloudt", "add_user scloudt", "set_permissions scloudt", "delete_user guest"],
    )
    assert res.diff and res.diff[0]["before"]["permissions"] == {"scloudt@scloudt": None}
    assert res.diff[0]["after"]["permissions"] == {
        "scloudt@scloudt": {"configure": ".*", "write": ".*", "read": ".*"}
    }
    users = {u["user"] for u in _ctl(broker, "list_users")}
    assert "scloudt" in users and "guest" not in users
    assert "scloudt" in {v["name"] for v in _ctl(broker, "list_vhosts", "name")}
    _login(broker, "scloudt", "scloudt", PASSWORD1)

    # A new password: only the password changes; the old one no longer logs in.
    _converge(broker, {**args, "password": PASSWORD2}, ["change_password scloudt"])
    _login(broker, "scloudt", "scloudt", PASSWORD2)
    with pytest.raises(Exception, match="ACCESS_REFUSED|403|refused"):
        _login(broker, "scloudt", "scloudt", PASSWORD1)

    # Tags and narrower permissions.
    narrow = {**args, "password": PASSWORD2, "tags": ["monitoring"], "permissions": {"configure": "^$"}}
    _converge(broker, narrow, ["set_user_tags scloudt", "set_permissions scloudt"])
    perms = _ctl(broker, "list_user_permissions", "scloudt")
    assert perms == [{"vhost": "scloudt", "configure": "^$", "write": ".*", "read": ".*"}]


@pytest.mark.parametrize(
    ("args", "option", "rule"),
    [
        ({"password": "short"}, "password", "at least 12 characters"),
        ({"vhost": "bad vhost"}, "vhost", "must be 1 to 128 letters"),
        ({"permissions": {"delete": ".*"}}, "permissions", "unknown key(s) delete"),
        ({"permissions": {"read": "("}}, "permissions.read", "is not a regular expression"),
        ({"absent_users": ["scloudbad"]}, "absent_users", "is the user this task keeps"),
    ],
)
def test_bad_input_fails_and_touches_nothing(broker, args, option, rule):
    before = (_ctl(broker, "list_users"), _ctl(broker, "list_vhosts", "name"))
    res = _run(broker, {"vhost": "scloudbad", "user": "scloudbad", "password": PASSWORD1, **args})
    assert res.failed and res.msg.startswith(f"{option}:") and rule in res.msg, res.msg
    assert PASSWORD1 not in res.stdout
    assert (_ctl(broker, "list_users"), _ctl(broker, "list_vhosts", "name")) == before
