"""The resource API against real engines: the same PUT twice changes once, DELETE removes.

``PUT /v1/vms/{name}`` over a real libvirtd, ``PUT /v1/volumes/{pool}/{name}`` over a real one-OSD
Ceph cluster (a pool of size 1). The jobs run where the registry sends them: a host of the job
inventory (here this machine, ``ansible_connection=local``) whose inventory variables give the
engines' connections (``scloud_libvirt_uri``, ``scloud_ceph_connection``), never the caller.
"""

from __future__ import annotations

import json

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


def _inventory(tmp_path, **hostvars) -> str:
    """One host, this machine, in the compute and mgmt groups, with the engines' connections."""
    path = tmp_path / "cloud-inventory.json"
    host = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3", **hostvars}
    path.write_text(json.dumps({"compute": {"hosts": {"here": host}}, "mgmt": {"hosts": {"here": None}}}))
    return str(path)


def _failures(c, job) -> str:
    events = c.get(f"/v1/jobs/{job['id']}/events", params={"limit": 500}).json()["items"]
    return "\n".join(e["stdout"] or "" for e in events if e["event"] in ("runner_on_failed", "error"))


def _put_twice(api, c, path, body):
    changed = []
    for _ in range(2):
        r = c.put(path, json=body)
        assert r.status_code == 202, r.text
        job = api.wait(r.json()["id"], timeout=180)
        assert job["status"] == "successful", _failures(c, job)
        changed.append(job["hosts"]["here"]["changed"])
    return changed


@pytest.mark.libvirt
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_put_vm_twice_changes_once(api_factory, libvirt_host, tmp_path):  # noqa: F811
    inventory = _inventory(tmp_path, scloud_libvirt_uri=libvirt_host.uri)
    api = api_factory(inventory=inventory, reserved_host_memory_mb=0)
    spec = {"state": "shutoff", "vcpus": 1, "memory_mb": 128, "virt_type": libvirt_host.virt_type}
    try:
        with api.client() as c:
            # The nodes' capacity, read from libvirtd by the nodes job.
            job = c.post("/v1/nodes/refresh").json()
            assert api.wait(job["id"], timeout=180)["status"] == "successful"
            node = c.get("/v1/nodes").json()["items"][0]
            assert node["name"] == "here" and node["vcpus"] >= 1 and node["memory_mb"] > 1024, node
            assert _put_twice(api, c, f"/v1/vms/{NAME}", spec) == [1, 0]
            assert NAME in libvirt_host.virsh("list", "--all", "--name")
            assert "shut off" in libvirt_host.virsh("domstate", NAME)
            rec = c.get(f"/v1/vms/{NAME}").json()
            assert rec["node"] == "here" and rec["status"] == "ready" and rec["drift"] is False, rec
            assert (
                rec["observed"]["state"] == "shutoff" and rec["observed_generation"] == rec["generation"] == 1
            )
            assert c.get("/v1/nodes").json()["items"][0]["used_memory_mb"] == 128
            # Removed by hand: the next nodes job (the reconciliation sweep) shows the drift; the
            # same PUT converges it back.
            libvirt_host.virsh("undefine", NAME)
            job = c.post("/v1/nodes/refresh").json()
            assert api.wait(job["id"], timeout=180)["status"] == "successful"
            rec = c.get(f"/v1/vms/{NAME}").json()
            assert rec["drift"] is True and rec["observed"]["exists"] is False, rec
            # ... and so does /metrics, for the VmDownUnexpectedly alarm (roles/monitoring).
            series = f'scloud_vm_drift{{vm="{NAME}",vm_node="here"}}'
            assert f"{series} 1" in c.get("/metrics").text
            assert _put_twice(api, c, f"/v1/vms/{NAME}", spec) == [1, 0]
            assert NAME in libvirt_host.virsh("list", "--all", "--name")
            assert c.get(f"/v1/vms/{NAME}").json()["drift"] is False
            assert f"{series} 0" in c.get("/metrics").text
            r = c.delete(f"/v1/vms/{NAME}")
            assert r.json()["resource"] == f"vm:{NAME}"
            assert api.wait(r.json()["id"], timeout=180)["status"] == "successful"
            assert NAME not in libvirt_host.virsh("list", "--all", "--name")
            assert c.get(f"/v1/vms/{NAME}").status_code == 404
            assert c.get("/v1/nodes").json()["items"][0]["used_memory_mb"] == 0
            bad = c.put(f"/v1/vms/{NAME}", json={"vcpus": "many"})
            assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:2] == ["body", "vcpus"]
            # The hypervisor is the inventory's: a caller cannot choose it.
            bad = c.put(f"/v1/vms/{NAME}", json={"uri": "qemu+ssh://elsewhere/system"})
            assert bad.status_code == 422
    finally:
        libvirt_host.virsh("destroy", NAME, check=False)
        libvirt_host.virsh("undefine", NAME, check=False)


@pytest.mark.ceph
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_put_volume_twice_changes_once(api_factory, small_ceph, tmp_path):
    api = api_factory(inventory=_inventory(tmp_path, scloud_ceph_connection=small_ceph.module_args))
    with api.client() as c:
        path = f"/v1/volumes/{POOL}/disk1"
        assert _put_twice(api, c, path, {"size": "64M", "features": ["layering"]}) == [1, 0]
        info = small_ceph.rbd("info", f"{POOL}/disk1")
        assert info["size"] == 64 * 1024**2 and info["features"] == ["layering"]
        assert c.get(path).json()["observed"]["image"]["size"] == 64 * 1024**2
        assert _put_twice(api, c, path, {"size": "128M", "features": ["layering"]}) == [1, 0]
        assert small_ceph.rbd("info", f"{POOL}/disk1")["size"] == 128 * 1024**2
        rec = c.get(path).json()
        assert rec["generation"] == 2 and rec["observed_generation"] == 2 and rec["node"] is None
        r = c.delete(path)
        assert api.wait(r.json()["id"], timeout=180)["status"] == "successful"
        assert "disk1" not in (small_ceph.rbd("ls", POOL) or [])
        assert c.get(path).status_code == 404


def _sha(cluster, pool, image, snap=None) -> str:
    from tests.integration.ceph.test_rbd_snapshot_backup import sha

    return sha(cluster, pool, image, snap)


def _write(cluster, pool, image, byte) -> None:
    from tests.integration.ceph.test_rbd_snapshot_backup import write

    write(cluster, pool, image, 0, 4 * 1024**2, byte)


def _job(api, c, r, status="successful") -> dict:
    assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"], timeout=180)
    assert job["status"] == status, _failures(c, job)
    return job


@pytest.mark.ceph
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_snapshot_rollback_and_protection_through_the_api(api_factory, small_ceph, tmp_path):
    """A volume's snapshot through the API on a real Ceph: taken (the same PUT again changes
    nothing), the volume overwritten and rolled back to the snapshot's checksum (a second rollback
    changes nothing); a protected snapshot and a volume with snapshots refuse their DELETE; a
    rollback is refused while a VM that may be running has the volume."""
    from scloud_api.models import Resource, new_id, utcnow

    api = api_factory(inventory=_inventory(tmp_path, scloud_ceph_connection=small_ceph.module_args))
    vol, snap = f"/v1/volumes/{POOL}/snapvol", f"/v1/volumes/{POOL}/snapvol/snapshots/before"
    with api.client() as c:
        _job(api, c, c.put(vol, json={"size": "16M"}))
        _write(small_ceph, POOL, "snapvol", 0xAA)
        known = _sha(small_ceph, POOL, "snapvol")
        assert _put_twice(api, c, snap, {}) == [1, 0]
        rec = c.get(snap).json()
        assert rec["status"] == "ready" and rec["observed"]["snapshot"]["name"] == "before", rec
        assert rec["links"]["self"] == snap
        assert [s["name"] for s in c.get(f"{vol}/snapshots").json()["items"]] == [f"{POOL}/snapvol@before"]

        _write(small_ceph, POOL, "snapvol", 0xBB)
        assert _sha(small_ceph, POOL, "snapvol") != known
        first = _job(api, c, c.post(f"{snap}/rollback"))
        assert first["hosts"]["here"]["changed"] == 1
        assert _sha(small_ceph, POOL, "snapvol") == known
        again = _job(api, c, c.post(f"{snap}/rollback"))
        assert again["hosts"]["here"]["changed"] == 0
        assert c.get(snap).json()["observed"]["actions"] == []

        # A volume with snapshots, and a protected snapshot, refuse their DELETE (nothing runs).
        r = c.delete(vol)
        assert r.status_code == 409 and r.json()["code"] == "resource_in_use", r.text
        _job(api, c, c.put(snap, json={"protected": True}))
        assert small_ceph.rbd("snap", "ls", f"{POOL}/snapvol")[0]["protected"] == "true"
        r = c.delete(snap)
        assert r.status_code == 409 and r.json()["code"] == "resource_protected", r.text

        # A VM that has the volume and may run: no rollback.
        with api.services.sm.begin() as s:
            s.add(
                Resource(
                    id=new_id(),
                    kind="vm",
                    name="holder",
                    spec={"state": "running", "disks": [{"volume": f"{POOL}/snapvol"}]},
                    status="ready",
                    observed={},
                    addresses={},
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        r = c.post(f"{snap}/rollback")
        assert r.status_code == 409 and "holder" in r.json()["detail"], r.text
        with api.services.sm.begin() as s:
            s.delete(s.query(Resource).filter_by(kind="vm", name="holder").one())

        _job(api, c, c.put(snap, json={"protected": False}))
        _job(api, c, c.delete(snap))
        assert c.get(snap).status_code == 404 and small_ceph.rbd("snap", "ls", f"{POOL}/snapvol") == []
        _job(api, c, c.delete(vol))

        # A snapshot of a volume the registry does not know is refused, naming it.
        r = c.put(f"/v1/volumes/{POOL}/nosuch/snapshots/s1", json={})
        assert r.status_code == 422 and "no volume named" in r.text, r.text
