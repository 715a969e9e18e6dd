"""scloud_api.redact: secrets masked in job events and variables."""

from __future__ import annotations

from scloud_api.redact import MASK, redact_event, redact_vars, secret_values


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
