"""Bad input: a clear 4xx with a machine-readable body, and no job created."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from scloud_api.errors import Invalid
from scloud_api.models import IdempotencyKey, Job
from sqlalchemy import func, select

OK = {"playbook": "diagnostics"}


def _case(c, **kw):
    return c.post("/v1/jobs", **kw)


CASES = [
    (
        "malformed JSON",
        dict(content=b'{"playbook": ', headers={"content-type": "application/json"}),
        400,
        "malformed_json",
    ),
    ("not an object", dict(json=["diagnostics"]), 422, "validation_error"),
    ("unknown playbook", dict(json={"playbook": "site"}), 422, "unknown_playbook"),
    ("unknown field", dict(json={**OK, "forks": 50}), 422, "validation_error"),
    (
        "wrong variable type",
        dict(json={**OK, "extra_vars": {"diagnostics_sleep": "soon"}}),
        422,
        "validation_error",
    ),
    (
        "variable out of range",
        dict(json={**OK, "extra_vars": {"diagnostics_sleep": -1}}),
        422,
        "validation_error",
    ),
    ("unknown variable", dict(json={**OK, "extra_vars": {"foo": 1}}), 422, "validation_error"),
    ("ansible_ variable", dict(json={**OK, "extra_vars": {"ansible_become": True}}), 422, "validation_error"),
    ("limit not in inventory", dict(json={**OK, "limit": "nohost"}), 422, "validation_error"),
    (
        "oversize body",
        dict(json={**OK, "extra_vars": {"diagnostics_message": "x" * 70000}}),
        413,
        "body_too_large",
    ),
    (
        "callback not http",
        dict(json={**OK, "callback_url": "ftp://127.0.0.1/x"}),
        422,
        "callback_url_refused",
    ),
    (
        "callback not allowed",
        dict(json={**OK, "callback_url": "http://10.1.2.3/x"}),
        422,
        "callback_url_refused",
    ),
    (
        "callback host not allowed",
        dict(json=OK, headers={"X-Callback-URL": "https://example.com/x"}),
        422,
        "callback_url_refused",
    ),
    (
        "callback with credentials",
        dict(json={**OK, "callback_url": "http://u:p@127.0.0.1/x"}),
        422,
        "callback_url_refused",
    ),
]


@pytest.mark.parametrize(("name", "kw", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_refused(api, name, kw, status, code):
    with api.client() as c:
        r = _case(c, **kw)
        assert r.status_code == status, r.text
        body = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert body["code"] == code and body["status"] == status and body["detail"]
        if status == 422 and code != "unknown_playbook":
            assert body["errors"] and all({"loc", "rule", "msg"} <= set(e) for e in body["errors"])
    with api.services.sm() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_error_bodies_name_the_field(api):
    with api.client() as c:
        r = c.post("/v1/jobs", json={**OK, "extra_vars": {"ansible_user": "root", "foo": 1}})
        assert {(tuple(e["loc"]), e["rule"]) for e in r.json()["errors"]} == {
            (("body", "extra_vars", "ansible_user"), "forbidden"),
            (("body", "extra_vars", "foo"), "unknown_variable"),
        }
        r = c.post("/v1/jobs", json={**OK, "extra_vars": {"foo": 1, "diagnostics_sleep": "x"}})
        errs = {(tuple(e["loc"]), e["rule"]) for e in r.json()["errors"]}
        assert (("body", "extra_vars", "foo"), "unknown_variable") in errs
        assert (("body", "extra_vars", "diagnostics_sleep"), "type") in errs
        missing = str(uuid.uuid4())
        r = c.get(f"/v1/jobs/{missing}")
        assert r.status_code == 404 and r.json()["code"] == "job_not_found"
        assert c.post(f"/v1/jobs/{missing}/cancel").status_code == 404
        assert c.get("/v1/jobs/not-a-uuid").status_code == 422
        assert c.get("/v1/nothing").json()["code"] == "not_found"


def test_resource_put_and_its_replay(api_factory):
    """A resource PUT makes a job; its Idempotency-Key replay answers like a replayed POST."""
    api = api_factory(service_group="lab", volume_pools=["rbd"])
    with api.client() as c:
        # Bad input is refused before anything.
        assert c.put("/v1/volumes/rbd/vol1", json={"size": "1G", "bogus": 1}).status_code == 422
        r = c.put(
            "/v1/volumes/rbd/vol1",
            json={"size": "1G", "features": ["layering"]},
            headers={"Idempotency-Key": "vol1"},
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["playbook"] == "volume" and job["resource"] == "volume:rbd/vol1"
        assert job["extra_vars"] == {
            "volume_pool": "rbd",
            "volume_name": "vol1",
            "volume_size": "1G",
            "volume_state": "present",
            "volume_features": ["layering"],
            "resource_generation": 1,
        }
        again = c.put(
            "/v1/volumes/rbd/vol1",
            json={"size": "1G", "features": ["layering"]},
            headers={"Idempotency-Key": "vol1"},
        )
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in r.headers
        bad = c.put("/v1/volumes/rbd/vol1", json={"size": "lots"})
        assert bad.status_code == 422
        c.post(f"/v1/jobs/{job['id']}/cancel")
        api.wait(job["id"])


# Issue 12: hostile input ----------------------------------------------------------------------------
REDOS = "~((.?){6}){6}!"


def job_count(api) -> int:
    with api.services.sm() as s:
        return s.scalar(select(func.count()).select_from(Job))


def test_pathological_limit_refused_fast(api):
    # The check is pure parsing (no regex, no inventory read): tens of microseconds. The issue's
    # bound, 10 ms, is asserted on the CPU time of the running API's own Inventory check: wall time
    # on this loaded 2-core machine (load average 10-15 while the other tiers run) includes
    # preemptions of that order. The old code backtracked for 37 s on REDOS.
    inventory = api.services.inventory
    for payload in (REDOS, "!~(a+)+$", "&~" + "(.*)" * 240):
        start = time.thread_time()
        with pytest.raises(Invalid) as exc:
            inventory.check_limit(payload)
        cpu = time.thread_time() - start
        assert cpu < 0.010, f"{payload[:20]}: {cpu * 1000:.2f} ms of CPU"
        assert exc.value.errors[0]["rule"] == "no_regex"
    # Over HTTP the round trip adds the key check and the loopback: a few ms. 1 s (best of three)
    # is a bound no healthy run approaches and that backtracking (tens of seconds) cannot meet.
    walls = []
    with api.client() as c:
        for _ in range(3):
            start = time.perf_counter()
            r = c.post("/v1/jobs", json={**OK, "limit": REDOS})
            walls.append(time.perf_counter() - start)
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["rule"] == "no_regex" and "~regex" in r.json()["errors"][0]["msg"]
    assert min(walls) < 1.0, walls
    assert job_count(api) == 0


@pytest.mark.parametrize(
    ("limit", "rule"),
    [
        ("@/etc/passwd", "no_file"),
        ("localhost,@/etc/passwd", "no_file"),
        ("!@/etc/passwd", "no_file"),
        ("lab[0]", "syntax"),
        ("localhost:22", "syntax"),
        ("x" * 1001, "string_too_long"),  # the schema's maxLength, 1000 (MAX_LIMIT_CHARS)
    ],
)
def test_limit_syntax_refused(api, limit, rule):
    with api.client() as c:
        r = c.post("/v1/jobs", json={**OK, "limit": limit})
    assert r.status_code == 422, r.text
    assert [(e["loc"], e["rule"]) for e in r.json()["errors"]] == [(["body", "limit"], rule)]
    assert job_count(api) == 0


def test_wildcard_limit_runs_as_validated(api):
    with api.client() as c:
        r = c.post("/v1/jobs", json={**OK, "limit": "lab:&local*"})
        assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"])
    # What ansible ran with is the validated string, and it selected the host the parser matched.
    assert job["status"] == "successful" and job["limit"] == "lab:&local*"
    assert set(job["hosts"]) == {"localhost"}


BAD_TEXT = [
    (
        "surrogate in a value",
        "post",
        "/v1/jobs",
        b'{"playbook":"diagnostics","extra_vars":{"diagnostics_message":"a\\ud800"}}',
        ["body", "extra_vars", "diagnostics_message"],
    ),
    (
        "NUL in a value",
        "post",
        "/v1/jobs",
        b'{"playbook":"diagnostics","extra_vars":{"diagnostics_message":"a\\u0000b"}}',
        ["body", "extra_vars", "diagnostics_message"],
    ),
    ("NUL in the playbook", "post", "/v1/jobs", b'{"playbook":"diagnostics\\u0000"}', ["body", "playbook"]),
    (
        "surrogate in a key",
        "post",
        "/v1/jobs",
        b'{"playbook":"diagnostics","extra_vars":{"\\udfff":1}}',
        ["body", "extra_vars", "\\udfff"],
    ),
    ("NUL in a key", "post", "/v1/jobs", b'{"playbook":"diagnostics","\\u0000":1}', ["body", "\\u0000"]),
    # Raw UTF-8-encoded surrogate bytes: json.loads decodes them with surrogatepass.
    (
        "raw surrogate bytes",
        "post",
        "/v1/jobs",
        b'{"playbook":"diagnostics","limit":"\xed\xa0\x80"}',
        ["body", "limit"],
    ),
    (
        "nested in a VM spec",
        "put",
        "/v1/vms/vm1",
        b'{"spec":{"disks":[{"path":"/x","tags":["\\ud83d"]}]}}',
        ["body", "spec", "disks", "0", "tags", "0"],
    ),
    ("NUL in a volume size", "put", "/v1/volumes/rbd/v1", b'{"size":"1G\\u0000"}', ["body", "size"]),
    ("surrogate in a key name", "post", "/v1/keys", b'{"role":"viewer","name":"\\udc00"}', ["body", "name"]),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "loc"), BAD_TEXT, ids=[b[0] for b in BAD_TEXT])
def test_unstorable_text_is_422(api, name, method, path, body, loc):
    with api.client("admin") as c:
        r = c.request(method.upper(), path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        err = r.json()["errors"]
        assert [(e["loc"], e["rule"]) for e in err] == [(loc, "characters")], err
        # Nothing was stored that could break a later read or list, on SQLite or PostgreSQL.
        assert c.get("/v1/jobs").status_code == 200
        keys = c.get("/v1/keys")
        assert keys.status_code == 200 and len(keys.json()["items"]) == 3
    assert job_count(api) == 0


def test_escaped_pairs_and_backslashes_are_fine(api):
    # A proper surrogate pair is one character, and "\\u0000" (an escaped backslash) is text.
    msg = "\U0001f600 \\u0000 \\ud800"
    with api.client() as c:
        r = c.post("/v1/jobs", json={**OK, "extra_vars": {"diagnostics_message": msg}})
        assert r.status_code == 202, r.text
        assert r.json()["extra_vars"]["diagnostics_message"] == msg
        c.post(f"/v1/jobs/{r.json()['id']}/cancel")
        assert c.get("/v1/jobs").status_code == 200
    api.wait(r.json()["id"])


def chunks(data: bytes, size: int = 4096):
    # A generator body: httpx sends it chunked, without Content-Length.
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_chunked_body_over_the_limit_is_413(api):
    big = json.dumps({**OK, "extra_vars": {"diagnostics_message": "x" * 100_000}}).encode()
    with api.client() as c:
        r = c.post("/v1/jobs", content=chunks(big), headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "body_too_large" and "max_body_bytes" in r.json()["detail"]
    assert job_count(api) == 0
    # A chunked body under the limit is read whole and handled as usual.
    small = json.dumps({**OK, "extra_vars": {"diagnostics_message": "chunked"}}).encode()
    with api.client() as c:
        r = c.post("/v1/jobs", content=chunks(small, 7), headers={"content-type": "application/json"})
        assert r.status_code == 202, r.text
        c.post(f"/v1/jobs/{r.json()['id']}/cancel")
    api.wait(r.json()["id"])


def nested(depth: int, leaf="x") -> str:
    return '{"a":' * depth + json.dumps(leaf) + "}" * depth


@pytest.mark.parametrize(
    "body",
    [
        b'{"playbook":"diagnostics","extra_vars":{"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
        b"[" * 30_000 + b"]" * 30_000,
        nested(100).encode(),
        # 65 levels: the top object, then extra_vars and 63 objects in it; max_json_depth is 64.
        ('{"playbook":"diagnostics","extra_vars":' + nested(64) + "}").encode(),
    ],
    ids=["10k lists", "30k lists", "100 objects", "65 levels"],
)
def test_deep_nesting_is_400(api, body):
    with api.client() as c:
        r = c.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "malformed_json" and "max_json_depth" in r.json()["detail"]
        # 64 levels pass the body check and reach the schema (an unknown variable: 422).
        ok = ('{"playbook":"diagnostics","extra_vars":' + nested(63) + "}").encode()
        r = c.post("/v1/jobs", content=ok, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "unknown_variable", r.text
    assert job_count(api) == 0


@pytest.mark.parametrize("body", [b'{"playbook":"diagnostics","extra_vars":{"x":NaN}}', b'{"p":"\xff"}'])
def test_not_json_is_400(api, body):
    with api.client() as c:
        r = c.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json", r.text


def http_label_values(api) -> set[tuple[str, str]]:
    with api.client("viewer") as c:
        text = c.get("/metrics").text
    out = set()
    for line in text.splitlines():
        if line.startswith("scloud_api_http_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out.add((labels["method"], labels["route"]))
    return out


def test_metric_labels_are_bounded(api):
    def junk(tag: str) -> None:
        with api.client() as c:
            for i in range(10):
                c.get(f"/{tag}/{uuid.uuid4()}/{i}")
                # Refused by uvicorn's httptools parser (400) before the app, or folded into "other".
                c.request(f"X{tag.upper()}{i}", "/v1/jobs")
                c.request("PROPFIND", f"/{tag}{i}")
                c.request("PROPFIND", "/v1/jobs")  # a method every parser passes: "other"

    http_label_values(api)  # GET /metrics itself is counted once
    junk("first")
    after_first = http_label_values(api)
    junk("second")
    after_second = http_label_values(api)
    assert after_second == after_first  # 30 more junk requests, not one new label value
    methods = {m for m, _ in after_second}
    routes = {r for _, r in after_second}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert ("other", "/v1/jobs") in after_second and ("other", "unmatched") in after_second
    assert all(
        r == "unmatched" or r.startswith("/") and "first" not in r and "second" not in r for r in routes
    )


def test_queue_bound_answers_503(api_factory):
    api = api_factory(max_queued_jobs=1, max_concurrent_jobs=1)
    sleep = {"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 60}}
    with api.client() as c:
        running = c.post("/v1/jobs", json=sleep).json()["id"]
        api.wait(running, until={"running"})
        queued = c.post("/v1/jobs", json=sleep)
        assert queued.status_code == 202 and queued.json()["status"] == "queued"
        assert api.services.executor.stats()["queued"] == 1

        full = c.post("/v1/jobs", json=sleep, headers={"Idempotency-Key": "when-full"})
        assert full.status_code == 503, full.text
        assert full.json()["code"] == "queue_full" and "max_queued_jobs" in full.json()["detail"]
        assert int(full.headers["Retry-After"]) > 0
        put = c.put("/v1/volumes/rbd/v1", json={"size": "1G"}, headers={"Idempotency-Key": "put-when-full"})
        assert put.status_code == 503 and put.json()["code"] == "queue_full", put.text
        assert job_count(api) == 2
        with api.services.sm() as s:
            assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

        # Once the queue drains, the same Idempotency-Key makes the job: the 503 left it unclaimed.
        c.post(f"/v1/jobs/{queued.json()['id']}/cancel")
        c.post(f"/v1/jobs/{running}/cancel")
        api.wait(running)
        deadline = time.monotonic() + 30
        while api.services.executor.stats()["queued"] and time.monotonic() < deadline:
            time.sleep(0.1)
        again = c.post("/v1/jobs", json=sleep, headers={"Idempotency-Key": "when-full"})
        assert again.status_code == 202, again.text
        c.post(f"/v1/jobs/{again.json()['id']}/cancel")
    api.wait(again.json()["id"])
