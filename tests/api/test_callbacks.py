"""Signed callbacks (Standard Webhooks) delivered with retries to a receiver on loopback."""

from __future__ import annotations

import json
import time

from scloud_api.callbacks import sign, verify

from .receiver import Receiver


def test_callback_retried_until_delivered_and_signed(api):
    secret = api.settings.webhook_secret.get_secret_value()
    with Receiver([500, 500, 200]) as rx, api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics"}, headers={"X-Callback-URL": rx.url})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.json()["callback_url"] == rx.url
        job = api.wait(job_id)
        calls = rx.wait_calls(3)
        time.sleep(0.5)
        assert len(rx.calls) == 3, "no attempt after the first 2xx"
        for call in calls:
            assert verify(secret, call["headers"], call["body"]), (
                "signature must verify with the shared secret"
            )
            assert call["headers"]["webhook-signature"].startswith("v1,")
        assert len({call["headers"]["webhook-id"] for call in calls}) == 1, "one message id across retries"
        body = json.loads(calls[-1]["body"])
        assert body["type"] == "job.successful"
        data = body["data"]
        assert data["id"] == job_id and data["status"] == job["status"] == "successful"
        assert data["stats"] == job["stats"] and data["hosts"] == job["hosts"]
        assert data["finished_at"] == job["finished_at"]
        # A tampered body does not verify.
        assert not verify(secret, calls[-1]["headers"], calls[-1]["body"] + b" ")

        deadline = time.monotonic() + 10
        while len(attempts := c.get(f"/v1/jobs/{job_id}").json()["callback_attempts"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert [a["attempt"] for a in attempts] == [1, 2, 3]
        assert [a["http_status"] for a in attempts] == [500, 500, 200]
        assert [a["delivered"] for a in attempts] == [False, False, True]
        assert all(a["job_status"] == "successful" and a["url"] == rx.url for a in attempts)
        # Exponential backoff: the second wait is longer than the first (base 0.05 s, equal jitter).
        gaps = [calls[1]["at"] - calls[0]["at"], calls[2]["at"] - calls[1]["at"]]
        assert gaps[0] >= 0.025 and gaps[1] >= 0.05


def test_callback_gives_up_after_max_attempts(api_factory):
    api = api_factory(callback_max_attempts=2)
    with Receiver([503, 503, 503]) as rx, api.client() as c:
        job_id = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": rx.url}).json()["id"]
        api.wait(job_id)
        rx.wait_calls(2)
        time.sleep(1.0)
        assert len(rx.calls) == 2
        attempts = c.get(f"/v1/jobs/{job_id}").json()["callback_attempts"]
        assert [a["delivered"] for a in attempts] == [False, False]


def test_standard_webhooks_reference_vector():
    # The example of the Standard Webhooks specification (and its reference libraries).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, ts = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = b'{"test": 2432232314}'
    assert sign(secret, msg_id, ts, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
