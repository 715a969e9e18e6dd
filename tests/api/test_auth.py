"""Auth matrix: every route refuses a missing or bad key; roles viewer < operator < admin."""

from __future__ import annotations

import re
import uuid

import pytest

PUBLIC = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _routes(api):
    out = []
    for path, item in api.app.openapi()["paths"].items():
        if path in PUBLIC:
            continue
        concrete = re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()) if "id" in m.group(0) else "x1", path)
        for method in item:
            out.append((method.upper(), concrete))
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_route_needs_a_valid_key(api):
    routes = _routes(api)
    assert len(routes) >= 11
    with api.client(None) as anon:
        for method, path in routes:
            r = anon.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["code"] == "missing_api_key" and r.headers["www-authenticate"].startswith(
                "Bearer"
            )
            r = anon.request(method, path, json={}, headers={"Authorization": "Bearer scl_wrong"})
            assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
            r = anon.request(method, path, json={}, headers={"X-API-Key": "scl_wrong"})
            assert r.status_code == 401
        assert anon.get("/healthz").status_code == 200


def test_roles(api):
    job = {"playbook": "diagnostics", "extra_vars": {"diagnostics_fail": True}}
    with api.client("viewer") as viewer, api.client("operator") as op, api.client("admin") as admin:
        assert viewer.get("/v1/jobs").status_code == 200
        assert viewer.get("/v1/playbooks").status_code == 200
        assert viewer.get("/metrics").status_code == 200
        for r in (
            viewer.post("/v1/jobs", json=job),
            viewer.put("/v1/volumes/rbd/v1", json={"size": "1G"}),
            viewer.post(f"/v1/jobs/{uuid.uuid4()}/cancel"),
        ):
            assert r.status_code == 403 and r.json()["code"] == "insufficient_role"
        assert op.post("/v1/keys", json={"role": "viewer"}).status_code == 403
        assert op.get("/v1/keys").status_code == 403
        assert op.delete("/v1/keys/abc").status_code == 403
        # X-API-Key works as well as Authorization: Bearer.
        r = op.post("/v1/jobs", json=job, headers={"Authorization": "", "X-API-Key": api.tokens["operator"]})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        created = admin.post("/v1/keys", json={"role": "operator", "name": "ci"})
        assert created.status_code == 201
        new = created.json()
        assert new["token"].startswith("scl_") and new["role"] == "operator"
        listed = admin.get("/v1/keys").json()["items"]
        assert new["id"] in {k["id"] for k in listed} and all("token" not in k for k in listed)
        with api.services.sm() as s:
            from scloud_api.models import ApiKey

            stored = s.get(ApiKey, new["id"])
            assert new["token"] not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
        hdr = {"Authorization": f"Bearer {new['token']}"}
        assert op.get("/v1/jobs", headers=hdr).status_code == 200
        assert admin.delete(f"/v1/keys/{new['id']}").status_code == 200
        r = op.get("/v1/jobs", headers=hdr)
        assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
        assert admin.delete(f"/v1/keys/{uuid.uuid4()}").status_code == 404
        api.wait(job_id)
