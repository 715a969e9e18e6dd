"""The API's security rules, proven where users use it: through the VIP of the lab's HA
management plane (the committed tree, deployed once per session by the `cloud_deployed` fixture)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.harness import REPO, node_exec
from tests.lab.vip import MGMT_NODES, URL, tls

REPLICA_PORT = 8081  # roles/mgmt_api: mgmt_api_port, each replica on its node's cluster address
ADMIN_KEY = REPO / ".cache" / "lab" / "admin.key"
TERMINAL = ("successful", "failed", "canceled", "timeout")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def admin(cloud_deployed):
    headers = {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}
    with httpx.Client(base_url=URL, verify=tls(), headers=headers, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        yield c


def _wait(c: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(1)


def _replica_address(node: str) -> str:
    out = node_exec(node, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def test_jinja_from_a_caller_stays_text_on_the_cloud(admin):
    """A Jinja payload in a free-text variable: no command runs on any mgmt node, the events show
    the text as sent (the job runs on a replica, against every lab node)."""
    marker = f"/tmp/si{uuid.uuid4().hex[:6]}"
    text = f"{{{{lookup('pipe','touch {marker}')}}}}{{%if 1%}}{{{{lookup('env','HOME')}}}}{{%endif%}}"
    r = admin.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_message": text}})
    assert r.status_code == 202, r.text
    job = _wait(admin, r.json()["id"])
    assert job["status"] == "successful", job
    events = json.dumps(admin.get(f"/v1/jobs/{job['id']}/events", params={"limit": 1000}).json()["items"])
    assert json.dumps(text)[1:-1] in events
    for node in MGMT_NODES:
        assert node_exec(node, "test", "-e", marker, check=False).returncode == 1, node


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"playbook": "diagnostics", "extra_vars": {"diagnostics_command": ["sh"]}}, "diagnostics_command"),
        ({"playbook": "diagnostics", "limit": "~((.?){6}){6}!"}, "limit"),
        ({"playbook": "diagnostics", "limit": "@/etc/passwd"}, "limit"),
    ],
)
def test_refused_through_the_vip(admin, body, where):
    r = admin.post("/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert any(where in map(str, e["loc"]) for e in r.json()["errors"]), r.text


def test_revoked_key_is_refused_at_once_on_every_replica(admin):
    """Revoked through the VIP (one replica), refused by every replica's own port at once."""
    created = admin.post("/v1/keys", json={"role": "viewer", "name": f"lab-{uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201, created.text
    token, key_id = created.json()["token"], created.json()["id"]
    replicas = {n: f"http://{_replica_address(n)}:{REPLICA_PORT}" for n in MGMT_NODES}
    headers = {"Authorization": f"Bearer {token}"}
    for node, url in replicas.items():  # every replica has seen (and may cache) the valid key
        assert httpx.get(f"{url}/v1/playbooks", headers=headers, timeout=10).status_code == 200, node
    assert admin.delete(f"/v1/keys/{key_id}").status_code == 200
    for node, url in replicas.items():
        assert httpx.get(f"{url}/v1/playbooks", headers=headers, timeout=10).status_code == 401, node
