"""Bad input: a clear 4xx with a machine-readable body, and no job created."""

from __future__ import annotations

import uuid

import pytest
from scloud_api.models import Job
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


def test_resource_api_answers_501_until_the_module_exists(api_factory, tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    api = api_factory(modules_dir=modules)
    with api.client() as c:
        r = c.put("/v1/volumes/rbd/vol1", json={"size": "1G"})
        assert r.status_code == 501 and r.json()["code"] == "module_not_available"
        assert "rbd_image" in r.json()["detail"]
        assert c.put("/v1/vms/vm1", json={"spec": {"vcpus": 1}}).status_code == 501
        pb = {p["name"]: p for p in c.get("/v1/playbooks").json()["items"]}
        assert pb["volume"]["available"] is False and pb["diagnostics"]["available"] is True
        # Bad input is still refused before anything: 422 beats 501 only for schema errors of the body.
        assert c.put("/v1/volumes/rbd/vol1", json={"size": "1G", "bogus": 1}).status_code == 422

        (modules / "rbd_image.py").write_text("# the module landed\n")
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
        }
        again = c.put(
            "/v1/volumes/rbd/vol1",
            json={"size": "1G", "features": ["layering"]},
            headers={"Idempotency-Key": "vol1"},
        )
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        bad = c.put("/v1/volumes/rbd/vol1", json={"size": "lots"})
        assert bad.status_code == 422
        c.post(f"/v1/jobs/{job['id']}/cancel")
        api.wait(job["id"])
