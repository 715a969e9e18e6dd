"""Signed callbacks (Standard Webhooks) delivered with retries to a receiver on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime

import pytest
from scloud_api.callbacks import sign, verify

from .receiver import Receiver, ReceiverCA


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


# The allow-list is checked on the address connected to --------------------------------------------
def header(call: dict, name: str) -> str | None:
    return {k.lower(): v for k, v in call["headers"].items()}.get(name)


def wait_attempts(api, job_id: str, n: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    with api.client("viewer") as c:
        while len(attempts := c.get(f"/v1/jobs/{job_id}").json()["callback_attempts"]) < n:
            assert time.monotonic() < deadline, f"{len(attempts)} callback attempts recorded, expected {n}"
            time.sleep(0.1)
    return attempts


def test_nothing_is_called_unless_the_operator_lists_it(api_factory):
    api = api_factory(callback_allowed_networks=[])  # the defaults
    with Receiver() as rx, api.client() as c:
        r = c.post("/v1/jobs", json={"playbook": "diagnostics"}, headers={"X-Callback-URL": rx.url})
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "callback_url_refused"
        assert problem["errors"][0]["loc"] == ["header", "X-Callback-URL"]
        assert problem["errors"][0]["rule"] == "allow_list"
        assert "not on the callback allow-list" in problem["errors"][0]["msg"]
        assert c.get("/v1/jobs").json()["items"] == [], "no job is created"
    assert rx.calls == []


@pytest.mark.parametrize("networks", [["192.0.2.0/24"], ["0.0.0.0/0", "::/0"]], ids=["lab", "any"])
def test_allowed_name_resolving_to_loopback_is_refused(api_factory, networks):
    # localhost resolves to loopback (RFC 6761); neither network list names a loopback network.
    assert {i[4][0] for i in socket.getaddrinfo("localhost", 80)} <= {"127.0.0.1", "::1"}
    api = api_factory(callback_allowed_hosts=["localhost"], callback_allowed_networks=networks)
    with Receiver() as rx, api.client() as c:
        # An address literal is refused at submission, naming the field.
        r = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": rx.url})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["body", "callback_url"]
        assert "loopback" in r.json()["errors"][0]["msg"]
        # A name is resolved when it is called: refused there, recorded, not retried, never connected.
        url = rx.url_for("localhost")
        r = c.post("/v1/jobs", json={"playbook": "diagnostics"}, headers={"X-Callback-URL": url})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        api.wait(job_id)
        attempts = wait_attempts(api, job_id, 1)
        time.sleep(1.0)  # a retry would come within the test backoff (0.05-0.5 s)
        attempts = c.get(f"/v1/jobs/{job_id}").json()["callback_attempts"]
    assert len(attempts) == 1, attempts
    (a,) = attempts
    assert a["delivered"] is False and a["http_status"] is None and a["url"] == url
    assert a["error"].startswith("refused: host localhost resolves to 127.0.0.1"), a["error"]
    assert "loopback" in a["error"]
    assert rx.calls == [], "the receiver on loopback was never called"


def test_allowed_name_is_called_on_its_checked_address(api_factory):
    api = api_factory(
        callback_allowed_hosts=["localhost"], callback_allowed_networks=["127.0.0.0/8", "::1/128"]
    )
    secret = api.settings.webhook_secret.get_secret_value()
    with Receiver() as rx, api.client() as c:
        url = rx.url_for("localhost")
        job_id = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": url}).json()["id"]
        api.wait(job_id)
        (call,) = rx.wait_calls(1)
        attempts = wait_attempts(api, job_id, 1)
    # The connection went to the checked address; the request still names the host it was sent to.
    assert header(call, "host") == f"localhost:{rx.port}"
    assert verify(secret, call["headers"], call["body"])
    assert [(a["delivered"], a["http_status"], a["url"]) for a in attempts] == [(True, 200, url)]


def test_https_name_is_verified_while_connected_to_its_address(api_factory, tmp_path):
    # The receiver listens on 127.0.0.1 with a certificate for the NAME only (no IP address in it):
    # the handshake succeeds only if SNI and verification use the name while the TCP connection
    # goes to the checked address. A certificate for another name is refused.
    ca = ReceiverCA(tmp_path / "ca")
    good_ctx, bad_ctx = ca.server_context(["localhost"]), ca.server_context(["other.example"])
    api = api_factory(
        callback_allowed_hosts=["localhost"],
        callback_allowed_networks=["127.0.0.0/8", "::1/128"],
        callback_ca_file=ca.path,
        callback_max_attempts=1,
    )
    with Receiver(tls=good_ctx) as good, Receiver(tls=bad_ctx) as bad, api.client() as c:
        ok = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": good.url_for("localhost")})
        ko = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": bad.url_for("localhost")})
        ok_id, ko_id = ok.json()["id"], ko.json()["id"]
        (call,) = good.wait_calls(1)
        ok_attempts, ko_attempts = wait_attempts(api, ok_id, 1), wait_attempts(api, ko_id, 1)
    assert good.server_names == ["localhost"], "SNI carries the name"
    assert header(call, "host") == f"localhost:{good.port}"
    assert ok_attempts[0]["delivered"] is True and ok_attempts[0]["http_status"] == 200
    assert bad.calls == []
    assert ko_attempts[0]["delivered"] is False
    assert "CERTIFICATE_VERIFY_FAILED" in ko_attempts[0]["error"], ko_attempts[0]["error"]


# Slow receivers, bounded retries -------------------------------------------------------------------
def test_slow_receiver_does_not_delay_another(api_factory):
    # 4 messages for a receiver that answers only when the test lets it, then one for a fast
    # receiver. The slow one gets at most callback_max_per_host
    # (2) attempts at once; the 2 messages waiting for it hold no slot of the process (3 in all), so
    # the fast callback goes out at once. (With the former pool of 4 threads, all 4 were busy with the
    # slow receiver and the fast callback waited for it.)
    api = api_factory(callback_max_per_host=2, callback_max_in_flight=3, callback_timeout=120)
    release = threading.Event()
    with Receiver(hold=release) as slow, Receiver() as fast, api.client() as c:
        try:
            slow_ids = [
                c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": slow.url}).json()["id"]
                for _ in range(4)
            ]
            for job_id in slow_ids:
                api.wait(job_id)
            slow.wait_calls(2)
            held_since = slow.calls[0]["at"]
            fast_id = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": fast.url}).json()[
                "id"
            ]
            fast_job = api.wait(fast_id)
            (call,) = fast.wait_calls(1, timeout=30)
            busy, held = slow.in_flight, time.time() - held_since
        finally:
            release.set()
        slow.wait_calls(4)
        for job_id in slow_ids:
            assert wait_attempts(api, job_id, 1)[0]["delivered"] is True
    latency = call["at"] - datetime.fromisoformat(fast_job["finished_at"]).timestamp()
    print(f"\nfast callback {latency * 1000:.0f} ms after its job ended; slow receiver held {held:.1f} s")
    # The fast callback went out while the slow receiver still held 2 attempts (held since before it).
    assert busy == 2 and call["at"] > held_since, (busy, held)
    # ~10-40 ms measured; 2.5 s leaves a wide margin on a loaded 2-core machine.
    assert latency < 2.5, latency
    assert slow.max_in_flight == 2, "at most callback_max_per_host attempts to one receiver at once"


def test_attempt_time_is_bounded(api_factory):
    # The receiver trickles a header line every 0.2 s for 5 s: no single read waits long, so only a
    # deadline on the whole attempt (callback_timeout) ends it.
    api = api_factory(callback_timeout=1.0, callback_max_attempts=2)
    with Receiver(delay=5.0, drip=0.2) as rx, api.client() as c:
        job_id = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": rx.url}).json()["id"]
        api.wait(job_id)
        attempts = wait_attempts(api, job_id, 2)
    assert [a["delivered"] for a in attempts] == [False, False]
    assert all(a["error"].startswith("timeout: no answer within 1 s") for a in attempts), attempts
    # Cut off at 1 s, not after the receiver's 5 s; 1.5 s of margin for a loaded machine.
    assert all(a["duration_ms"] < 2500 for a in attempts), attempts


def test_retries_stop_at_the_time_bound(api_factory):
    window = 1.5
    api = api_factory(
        callback_max_attempts=50,
        callback_backoff_initial=0.2,
        callback_backoff_max=0.2,
        callback_retry_seconds=window,
    )
    with Receiver([503] * 100) as rx, api.client() as c:
        job_id = c.post("/v1/jobs", json={"playbook": "diagnostics", "callback_url": rx.url}).json()["id"]
        api.wait(job_id)
        rx.wait_calls(2)
        time.sleep(window + 2.0)  # well past the window: nothing more may come
        calls = list(rx.calls)
        attempts = c.get(f"/v1/jobs/{job_id}").json()["callback_attempts"]
    # Delays of 0.1-0.2 s (equal jitter) in a 1.5 s window: 16 attempts at most, far from 50.
    assert 2 <= len(calls) <= 16, len(calls)
    assert calls[-1]["at"] - calls[0]["at"] < window
    assert len(attempts) == len(calls), "every attempt is recorded"
    assert [a["attempt"] for a in attempts] == list(range(1, len(calls) + 1))
    assert not any(a["delivered"] for a in attempts)
