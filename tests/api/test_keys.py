"""API keys across nodes: a revocation is refused at once everywhere; the last admin key stays."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

CLI = str(Path(sys.executable).parent / "scloud-api")


def _cli(api, *argv, check=True):
    env = {
        **os.environ,
        "SCLOUD_API_STATE_DIR": str(api.settings.state_dir),
        "SCLOUD_API_DATABASE_URL": api.settings.db_url,
    }
    return subprocess.run([CLI, *argv], env=env, capture_output=True, text=True, check=check)


def _admin_id(api) -> str:
    with api.client("admin") as admin:
        return next(k["id"] for k in admin.get("/v1/keys").json()["items"] if k["name"] == "test-admin")


def test_revocation_is_refused_at_once_on_every_node(api_factory):
    a = api_factory()
    b = api_factory()  # a second API process on the same database
    with a.client("admin") as admin_a:
        key = admin_a.post("/v1/keys", json={"role": "viewer", "name": "two-nodes"}).json()
        other = admin_a.post("/v1/keys", json={"role": "viewer", "name": "cli"}).json()
    hdr = {"Authorization": f"Bearer {key['token']}"}
    other_hdr = {"Authorization": f"Bearer {other['token']}"}
    with a.client(None) as ca, b.client(None) as cb:
        # Both nodes have just authenticated the key (a cache would now hold it).
        assert ca.get("/v1/jobs", headers=hdr).status_code == 200
        assert cb.get("/v1/jobs", headers=hdr).status_code == 200
        with a.client("admin") as admin_a:
            assert admin_a.delete(f"/v1/keys/{key['id']}").status_code == 200
        # The very next request through the other node is refused, with no delay.
        r = cb.get("/v1/jobs", headers=hdr)
        assert r.status_code == 401 and r.json()["code"] == "invalid_api_key", r.text
        assert ca.get("/v1/jobs", headers=hdr).status_code == 401

        # The same through the CLI (another process again), by the key's prefix.
        assert ca.get("/v1/jobs", headers=other_hdr).status_code == 200
        assert cb.get("/v1/jobs", headers=other_hdr).status_code == 200
        _cli(a, "keys", "revoke", other["prefix"])
        assert ca.get("/v1/jobs", headers=other_hdr).status_code == 401
        assert cb.get("/v1/jobs", headers=other_hdr).status_code == 401
        # Revoking a revoked key again changes nothing and is not an error.
        with b.client("admin") as admin_b:
            again = admin_b.delete(f"/v1/keys/{key['id']}")
            assert again.status_code == 200 and again.json()["revoked_at"] is not None


def test_last_admin_key_cannot_be_revoked(api):
    first = _admin_id(api)
    with api.client("admin") as admin:
        r = admin.delete(f"/v1/keys/{first}")  # the only admin key, by itself
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["code"] == "last_admin_key" and "at least one admin key" in body["detail"]
        assert r.headers["content-type"].startswith("application/problem+json")
        assert admin.get("/v1/keys").status_code == 200  # still valid

        second = admin.post("/v1/keys", json={"role": "admin", "name": "second"}).json()
        hdr2 = {"Authorization": f"Bearer {second['token']}"}
        # With two active admin keys, one may revoke the other (or itself)...
        assert admin.delete(f"/v1/keys/{first}", headers=hdr2).status_code == 200
        assert admin.get("/v1/keys").status_code == 401
        # ...and now the second is the last one: refused by itself, by the CLI too.
        r = admin.delete(f"/v1/keys/{second['id']}", headers=hdr2)
        assert r.status_code == 409 and r.json()["code"] == "last_admin_key"
        cli = _cli(api, "keys", "revoke", second["id"], check=False)
        assert cli.returncode == 1 and "last admin key" in cli.stderr, cli.stderr
        assert admin.get("/v1/keys", headers=hdr2).status_code == 200
        # Revoked admin keys do not count; other roles revoke as before.
        assert admin.delete(f"/v1/keys/{first}", headers=hdr2).status_code == 200
        op = admin.post("/v1/keys", json={"role": "operator"}, headers=hdr2).json()
        assert admin.delete(f"/v1/keys/{op['id']}", headers=hdr2).status_code == 200


def test_two_nodes_revoking_the_last_two_admin_keys_at_once(api_factory):
    a = api_factory()
    b = api_factory()  # each made one admin key: two active admin keys on the database
    with a.client("admin") as ca:
        keys = [k for k in ca.get("/v1/keys").json()["items"] if k["role"] == "admin"]
    assert len(keys) == 2
    key_of = {
        api.url: next(k["id"] for k in keys if api.tokens["admin"].startswith(k["prefix"])) for api in (a, b)
    }
    statuses = []
    barrier = threading.Barrier(2)

    def revoke(api, key_id):
        with api.client("admin") as c:
            barrier.wait()
            statuses.append(c.delete(f"/v1/keys/{key_id}").status_code)

    # Node a revokes b's key and node b revokes a's key, at the same moment.
    threads = [
        threading.Thread(target=revoke, args=(a, key_of[b.url])),
        threading.Thread(target=revoke, args=(b, key_of[a.url])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # One wins; the other is refused: 409 if it saw the winner's revocation leave one admin key,
    # 401 if its own key was already revoked when it authenticated.
    assert sorted(statuses) in ([200, 401], [200, 409]), statuses
    with a.client(None) as c:
        alive = [
            api
            for api in (a, b)
            if c.get("/v1/keys", headers={"Authorization": f"Bearer {api.tokens['admin']}"}).status_code
            == 200
        ]
    assert len(alive) == 1
