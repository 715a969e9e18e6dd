"""Pure logic of scloud_api: redaction, variable checks, signatures (the callback allow-list:
test_callbacks.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scloud_api.callbacks import sign, verify
from scloud_api.catalogue import Catalogue, Inventory, validate_vars
from scloud_api.errors import Invalid
from scloud_api.redact import MASK, redact_event, redact_vars, secret_values
from scloud_api.service import fingerprint, host_stats
from scloud_api.settings import Settings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue(REPO / "playbooks/catalogue.yml", REPO / "playbooks")


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ({"ansible_user": "root"}, "forbidden"),
        ({"ANSIBLE_become": True}, "forbidden"),
        ({"nope": 1}, "unknown_variable"),
        ({"diagnostics_sleep": "1"}, "type"),
        ({"diagnostics_sleep": 3601}, "maximum"),
        ({"diagnostics_command": []}, "minItems"),
        ({"diagnostics_command": "uname -r"}, "type"),
        ({"diagnostics_command": ["uname", "-r"]}, "enum"),
        ({"diagnostics_command": ["sh"]}, "enum"),
        ({"diagnostics_command": ["hostname", "hostname"]}, "uniqueItems"),
        ({"diagnostics_fail": "yes"}, "type"),
    ],
)
def test_validate_vars_refuses(catalogue, extra, rule):
    with pytest.raises(Invalid) as exc:
        validate_vars(catalogue.get("diagnostics"), extra)
    assert rule in {e["rule"] for e in exc.value.errors}


def test_validate_vars_accepts(catalogue):
    validate_vars(
        catalogue.get("diagnostics"), {"diagnostics_command": ["kernel", "disk"], "diagnostics_sleep": 0}
    )
    validate_vars(catalogue.get("volume"), {"volume_pool": "rbd", "volume_name": "v", "volume_size": "10G"})
    with pytest.raises(Invalid):
        validate_vars(
            catalogue.get("volume"), {"volume_pool": "rbd", "volume_name": "v", "volume_size": "10 X"}
        )
    with pytest.raises(Invalid) as exc:
        catalogue.get("site")
    assert exc.value.code == "unknown_playbook"


def test_secret_variables_are_known(catalogue):
    assert catalogue.get("diagnostics").secret_vars == frozenset({"diagnostics_token"})


def test_redaction():
    secrets = secret_values({"diagnostics_token": "abcd1234", "db_password": "pw-xyz!", "short": "ab"}, [])
    assert secrets == ["abcd1234", "pw-xyz!"]
    event = {
        "event": "runner_on_ok",
        "stdout": "ok: [h] => abcd1234",
        "event_data": {
            "task": "t",
            "res": {
                "cmd": ["echo", "abcd1234"],
                "api_key": "zzz",
                "changed": False,
                "nested": [{"password": 1}],
            },
        },
    }
    out = redact_event(event, secrets)
    assert "abcd1234" not in str(out) and out["stdout"] == f"ok: [h] => {MASK}"
    assert (
        out["event_data"]["res"]["api_key"] == MASK
        and out["event_data"]["res"]["nested"][0]["password"] == MASK
    )
    assert event["event_data"]["res"]["api_key"] == "zzz", "the input is not modified"
    no_log = redact_event(
        {"event_data": {"res": {"_ansible_no_log": True, "secret_out": "v", "changed": True}}}, []
    )
    assert set(no_log["event_data"]["res"]) == {"censored", "changed"}
    assert redact_vars({"a": 1, "x_token": "t", "w": "s"}, ["w"]) == {"a": 1, "x_token": MASK, "w": MASK}


def test_signature_round_trip():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ts = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": "v0,zzz " + sign(secret, "msg_1", ts, b"{}"),
    }
    assert verify(secret, headers, b"{}")
    assert not verify(secret, {**headers, "webhook-timestamp": str(ts - 3600)}, b"{}")
    assert not verify("whsec_" + "A" * 32, headers, b"{}")


def test_host_stats_and_fingerprint():
    stats = {"ok": {"a": 2}, "changed": {"a": 1}, "dark": {"b": 1}, "processed": {"a": 1, "b": 1, "c": 1}}
    hosts = host_stats(stats)
    assert (
        hosts["a"].ok == 2 and hosts["a"].changed == 1 and hosts["b"].unreachable == 1 and hosts["c"].ok == 0
    )
    assert fingerprint("POST", "/v1/jobs", {"a": 1, "b": 2}) == fingerprint(
        "POST", "/v1/jobs", {"b": 2, "a": 1}
    )
    assert fingerprint("POST", "/v1/jobs", {"a": 1}) != fingerprint("PUT", "/v1/jobs", {"a": 1})


def test_limit_patterns(tmp_path):
    inv = Inventory(tmp_path / "hosts", {})
    inv.hosts, inv.groups = {"node1", "node2"}, {"all", "compute"}
    inv.refresh = lambda: None
    for ok in ("node1", "compute", "node*", "compute:!node2", "all,&compute"):
        inv.check_limit(ok)
    for bad in ("node3", "storage", "x*", "node1,,node2", "~(", "~node[12]"):
        with pytest.raises(Invalid):
            inv.check_limit(bad)


def test_nested_unknown_option_is_named(catalogue):
    with pytest.raises(Invalid) as exc:
        validate_vars(catalogue.get("vm"), {"vm_name": "a", "vm_spec": {"vcpus": 1, "bogus": 2}})
    assert exc.value.errors == [
        {
            "loc": ["body", "extra_vars", "vm_spec", "bogus"],
            "rule": "unknown_variable",
            "msg": "bogus is not a variable of playbook vm",
        }
    ]


def test_migrations_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from scloud_api.db import make_engine, upgrade
    from scloud_api.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_openapi_documents_every_error_as_a_problem():
    from scloud_api.app import create_app

    spec = create_app(Settings(state_dir="/nonexistent")).openapi()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")) and code != "503":
                    ref = resp["content"]["application/problem+json"]["schema"]["$ref"]
                    assert ref.endswith("/Problem"), (method, path, code)
            if path != "/healthz":
                assert op.get("security"), (method, path)
