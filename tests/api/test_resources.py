"""The idempotent resource API against real engines: the same PUT twice changes once.

``PUT /v1/vms/{name}`` over a real libvirtd, ``PUT /v1/volumes/{pool}/{name}`` over a real
one-OSD Ceph cluster (a pool of size 1). The connections come from the API's settings.
"""

from __future__ import annotations

import pytest

from tests.integration.engines.ceph import CephCluster
from tests.integration.engines.libvirt import TEST_PREFIX, libvirt_host  # noqa: F401 - fixture

NAME = f"{TEST_PREFIX}api-vm"
POOL = "apivol"


@pytest.fixture(scope="module")
def small_ceph():
    cluster = CephCluster(osd_count=1)
    try:
        cluster.start()
        print(f"\nceph (1 OSD) up in {cluster.start_seconds:.1f}s")
        cluster.ceph("config", "set", "global", "mon_allow_pool_size_one", "true")
        cluster.ceph("osd", "pool", "create", POOL, "8", "8", "replicated")
        cluster.ceph("osd", "pool", "set", POOL, "size", "1", "--yes-i-really-mean-it")
        cluster.ceph("osd", "pool", "set", POOL, "min_size", "1")
        cluster.ceph("osd", "pool", "application", "enable", POOL, "rbd")
        cluster.wait_for_clean()
        yield cluster
    finally:
        cluster.stop()


def _put_twice(api, c, path, body):
    changed = []
    for _ in range(2):
        r = c.put(path, json=body)
        assert r.status_code == 202, r.text
        job = api.wait(r.json()["id"], timeout=180)
        assert job["status"] == "successful", job
        changed.append(job["hosts"]["localhost"]["changed"])
    return changed


@pytest.mark.libvirt
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_put_vm_twice_changes_once(api_factory, libvirt_host):  # noqa: F811
    api = api_factory(vm_connection={"uri": libvirt_host.uri})
    spec = {"state": "shutoff", "vcpus": 1, "memory": "128M", "virt_type": libvirt_host.virt_type}
    try:
        with api.client() as c:
            assert _put_twice(api, c, f"/v1/vms/{NAME}", {"spec": spec}) == [1, 0]
            assert NAME in libvirt_host.virsh("list", "--all", "--name")
            assert "shut off" in libvirt_host.virsh("domstate", NAME)
            r = c.put(f"/v1/vms/{NAME}", json={"spec": {"state": "absent"}})
            assert r.json()["resource"] == f"vm:{NAME}"
            assert api.wait(r.json()["id"], timeout=180)["status"] == "successful"
            assert NAME not in libvirt_host.virsh("list", "--all", "--name")
            bad = c.put(f"/v1/vms/{NAME}", json={"spec": {"vcpus": "many"}})
            assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:4] == [
                "body",
                "extra_vars",
                "vm_spec",
                "vcpus",
            ]
            # The connection is the operator's: a caller cannot choose the hypervisor.
            bad = c.put(f"/v1/vms/{NAME}", json={"spec": {"uri": "qemu+ssh://elsewhere/system"}})
            assert bad.status_code == 422
    finally:
        libvirt_host.virsh("destroy", NAME, check=False)
        libvirt_host.virsh("undefine", NAME, check=False)


@pytest.mark.ceph
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_put_volume_twice_changes_once(api_factory, small_ceph):
    api = api_factory(volume_connection=small_ceph.module_args)
    with api.client() as c:
        path = f"/v1/volumes/{POOL}/disk1"
        assert _put_twice(api, c, path, {"size": "64M", "features": ["layering"]}) == [1, 0]
        info = small_ceph.rbd("info", f"{POOL}/disk1")
        assert info["size"] == 64 * 1024**2 and info["features"] == ["layering"]
        assert _put_twice(api, c, path, {"size": "128M", "features": ["layering"]}) == [1, 0]
        assert small_ceph.rbd("info", f"{POOL}/disk1")["size"] == 128 * 1024**2
        r = c.put(path, json={"size": "128M", "state": "absent"})
        assert api.wait(r.json()["id"], timeout=180)["status"] == "successful"
        assert "disk1" not in (small_ceph.rbd("ls", POOL) or [])
