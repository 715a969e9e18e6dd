"""The idempotent resource API against a real engine: PUT /v1/vms/{name} over a real libvirtd."""

from __future__ import annotations

import pytest

from tests.integration.engines.libvirt import TEST_PREFIX, libvirt_host  # noqa: F401 - fixture

NAME = f"{TEST_PREFIX}api-vm"


@pytest.mark.libvirt
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_put_vm_twice_changes_once(api, libvirt_host):  # noqa: F811
    spec = {
        "uri": libvirt_host.uri,
        "state": "shutoff",
        "vcpus": 1,
        "memory": "128M",
        "virt_type": libvirt_host.virt_type,
    }
    try:
        with api.client() as c:
            runs = []
            for _ in range(2):
                r = c.put(f"/v1/vms/{NAME}", json={"spec": spec})
                assert r.status_code == 202, r.text
                assert r.json()["resource"] == f"vm:{NAME}"
                job = api.wait(r.json()["id"], timeout=180)
                assert job["status"] == "successful", job
                runs.append(job["hosts"]["localhost"]["changed"])
            assert runs == [1, 0], "the same PUT twice: one change, then none"
            assert NAME in libvirt_host.virsh("list", "--all", "--name")
            assert "shut off" in libvirt_host.virsh("domstate", NAME)
            r = c.put(f"/v1/vms/{NAME}", json={"spec": {"uri": libvirt_host.uri, "state": "absent"}})
            assert api.wait(r.json()["id"], timeout=180)["status"] == "successful"
            assert NAME not in libvirt_host.virsh("list", "--all", "--name")
            bad = c.put(f"/v1/vms/{NAME}", json={"spec": {"vcpus": "many"}})
            assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:3] == [
                "body",
                "extra_vars",
                "vm_spec",
            ]
    finally:
        libvirt_host.virsh("destroy", NAME, check=False)
        libvirt_host.virsh("undefine", NAME, check=False)
