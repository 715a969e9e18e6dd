"""The resource API against real engines: the same PUT twice changes once, DELETE removes.

``PUT /v1/vms/{name}`` over a real libvirtd, ``PUT /v1/volumes/{pool}/{name}`` over a real one-OSD
Ceph cluster (a pool of size 1). The jobs run where the registry sends them: a host of the job
inventory (here this machine, ``ansible_connection=local``) whose inventory variables give the
engines' connections (``scloud_libvirt_uri``, ``scloud_ceph_connection``), never the caller.
"""

from __future__ import annotations

import json
import time

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


@pytest.mark.ceph
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backup_plan_run_schedule_and_restore_through_the_api(api_factory, small_ceph, tmp_path):
    """A backup plan on a real Ceph: its first backup moves the data written, the same PUT again
    nothing, a run after more writes only the delta; the volume's snapshots stay one deep and the
    backups ``keep`` deep. Restored into a new volume (recorded) and over the original (refused
    without overwrite), every checksum equal. A due plan runs once although two API nodes look."""
    from datetime import timedelta

    from scloud_api.models import Job, utcnow

    bak = "apibak"
    small_ceph.ceph("osd", "pool", "create", bak, "8", "8", "replicated")
    small_ceph.ceph("osd", "pool", "set", bak, "size", "1", "--yes-i-really-mean-it")
    small_ceph.ceph("osd", "pool", "application", "enable", bak, "rbd")
    inventory = _inventory(tmp_path, scloud_ceph_connection=small_ceph.module_args)
    api = api_factory(inventory=inventory, backup_tick_seconds=1)
    vol, plan = f"/v1/volumes/{POOL}/bkvol", "/v1/backups/nightly"
    body = {"volume": f"{POOL}/bkvol", "backup_pool": bak, "keep": 2}
    mib = 1024**2
    with api.client() as c:
        _job(api, c, c.put(vol, json={"size": "16M"}))
        _write(small_ceph, POOL, "bkvol", 0xAA)
        assert _job(api, c, c.put(plan, json=body))["hosts"]["here"]["changed"] == 2  # snapshot + backup
        first = c.get(plan).json()["observed"]["backup"]
        assert first["mode"] == "full" and first["bytes_moved"] == 4 * mib and len(first["snapshots"]) == 1
        assert _job(api, c, c.put(plan, json=body))["hosts"]["here"]["changed"] == 0  # the same PUT: nothing

        from tests.integration.ceph.test_rbd_snapshot_backup import write

        write(small_ceph, POOL, "bkvol", 8 * mib, 4 * mib, 0xBB)
        written = _sha(small_ceph, POOL, "bkvol")
        time.sleep(1.1)  # the snapshot names are per second
        _job(api, c, c.post(f"{plan}/run"))
        inc = c.get(plan).json()["observed"]["backup"]
        assert inc["mode"] == "incremental" and inc["bytes_moved"] == 4 * mib, inc
        assert inc["base"] == first["snapshots"][0] and len(inc["snapshots"]) == 2
        assert [s["name"] for s in small_ceph.rbd("snap", "ls", f"{POOL}/bkvol")] == [inc["snapshots"][-1]]
        time.sleep(1.1)
        _job(api, c, c.post(f"{plan}/run"))
        third = c.get(plan).json()["observed"]["backup"]
        assert third["bytes_moved"] == 0 and third["snapshots"][0] == inc["snapshots"][1], third  # keep 2

        # Restored into a new volume, which the registry records.
        _job(api, c, c.post(f"{plan}/restore", json={"volume": f"{POOL}/bkvol-copy"}))
        assert _sha(small_ceph, POOL, "bkvol-copy") == written
        copy = c.get(f"/v1/volumes/{POOL}/bkvol-copy").json()
        assert copy["status"] == "ready" and copy["observed"]["restore"]["verified"], copy

        # Over the original: refused without overwrite; with it, the old content comes back.
        _write(small_ceph, POOL, "bkvol", 0x99)
        r = c.post(f"{plan}/restore", json={"volume": f"{POOL}/bkvol"})
        assert r.status_code == 409 and r.json()["code"] == "resource_exists", r.text
        _job(api, c, c.post(f"{plan}/restore", json={"volume": f"{POOL}/bkvol", "overwrite": True}))
        assert _sha(small_ceph, POOL, "bkvol") == written

        for bad, code in [
            ({**body, "backup_pool": POOL}, 422),
            ({**body, "volume": f"{POOL}/nosuch"}, 422),
            ({**body, "keep": 0}, 422),
        ]:
            r = c.put("/v1/backups/bad", json=bad)
            assert r.status_code == code and r.json()["errors"], r.text
        r = c.post(f"{plan}/restore", json={"volume": f"{POOL}/x", "snapshot": "nosuch"})
        assert r.status_code == 422 and "keeps" in r.text, r.text

        # A plan every 5 minutes whose last job is 10 minutes old: due. Two API nodes look every
        # second; one backup runs.
        _job(api, c, c.put("/v1/backups/often", json={**body, "every_minutes": 5}))
        other = api_factory(inventory=inventory, backup_tick_seconds=1)
        with api.services.sm.begin() as s:
            for job in s.query(Job).filter(Job.resource == "backup:often"):
                job.created_at = utcnow() - timedelta(minutes=10)
        deadline = time.monotonic() + 30
        while True:
            with api.services.sm() as s:
                jobs = s.query(Job).filter(Job.resource == "backup:often").all()
            if len(jobs) >= 2:
                break
            assert time.monotonic() < deadline, "the due plan did not run"
            time.sleep(0.5)
        time.sleep(3)  # another node's second run would come now
        with other.services.sm() as s:
            jobs = s.query(Job).filter(Job.resource == "backup:often").order_by(Job.created_at).all()
        assert len(jobs) == 2 and jobs[1].playbook == "backup", [(j.playbook, j.created_at) for j in jobs]
        assert api.wait(jobs[1].id, timeout=180)["status"] == "successful"

        # Deleted: the backup image and the volume's snapshot go.
        for name in ("often", "nightly"):
            _job(api, c, c.delete(f"/v1/backups/{name}"))
        assert small_ceph.rbd("ls", bak) == [] and small_ceph.rbd("snap", "ls", f"{POOL}/bkvol") == []
        assert c.get(plan).status_code == 404
