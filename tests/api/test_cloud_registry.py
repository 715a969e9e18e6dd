"""The cloud's registry through the real API (SQLite and PostgreSQL): placement that never overcommits
under concurrent creates, locks, uniqueness and reference checks before any job starts.

The nodes are written as the nodes job would (this tier has no compute node; the lab tier reads real
ones through POST /v1/nodes/refresh). Their names are not in this tier's inventory, so each job the
registry starts ends at once (no host to run on): what is asserted is what the registry decided and
refused, before and whatever the job.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from scloud_api.models import Node, Resource

NODES = {"cn1": 4096, "cn2": 4096, "cn3": 4096}  # MiB; 512 reserved each: 3584 placeable


def _seed_nodes(api, nodes=NODES, vcpus=8):
    with api.services.sm.begin() as s:
        for name, mem in nodes.items():
            s.merge(
                Node(
                    name=name,
                    roles=["compute", "mgmt"],
                    set_name="lab",
                    vcpus=vcpus,
                    memory_mb=mem,
                    up=True,
                    draining=False,
                )
            )


def _settle(api, c, path):
    """Wait until the resource's job ended (it fails at once here: no such host)."""
    rec = c.get(path).json()
    api.wait(rec["last_job_id"], timeout=120)
    return c.get(path).json()


@pytest.fixture
def cloud(api_factory):
    api = api_factory(
        max_concurrent_jobs=4,
        service_node="cn1",
        volume_pools=["pool1"],
        public_network={"name": "public", "cidr": "192.0.2.0/24", "gateway": "192.0.2.1"},
    )
    _seed_nodes(api)
    return api


def test_concurrent_creates_never_overcommit(cloud):
    """20 VMs of 1 GiB at once on 3 nodes of 3.5 GiB placeable: 9 placed, 11 refused naming memory."""
    results = []

    def create(i):
        with cloud.client() as c:
            r = c.put(f"/v1/vms/c{i}", json={"memory_mb": 1024, "vcpus": 1})
            results.append((i, r.status_code, r.json()))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = Counter(code for _, code, _ in results)
    assert codes == {202: 9, 409: 11}, results
    refused = [body for _, code, body in results if code == 409]
    assert all(b["code"] == "no_capacity" and "memory" in b["detail"] for b in refused), refused
    with cloud.services.sm() as s:
        per_node = Counter()
        for rec in s.query(Resource).filter(Resource.kind == "vm"):
            per_node[rec.node] += rec.memory_mb
            assert rec.placement["node"] == rec.node and rec.placement["filters"]
    assert set(per_node) == set(NODES) and all(v <= 3584 for v in per_node.values()), per_node
    with cloud.client("viewer") as c:
        nodes = {n["name"]: n for n in c.get("/v1/nodes").json()["items"]}
        assert {n: v["used_memory_mb"] for n, v in nodes.items()} == dict(per_node)
        listed = c.get("/v1/vms", params={"limit": 5})
        assert listed.json()["total"] == 9 and len(listed.json()["items"]) == 5


def test_anti_affinity_and_spread(cloud):
    with cloud.client() as c:
        for i in range(3):
            r = c.put(
                f"/v1/vms/web{i}",
                json={"memory_mb": 256, "placement": {"group": "web", "policy": "anti-affinity"}},
            )
            assert r.status_code == 202, r.text
        r = c.put(
            "/v1/vms/web3", json={"memory_mb": 256, "placement": {"group": "web", "policy": "anti-affinity"}}
        )
        assert (
            r.status_code == 409
            and r.json()["code"] == "no_capacity"
            and "anti-affinity" in r.json()["detail"]
        )
        nodes = [c.get(f"/v1/vms/web{i}").json()["node"] for i in range(3)]
        assert sorted(nodes) == sorted(NODES)
        # Too big for any node: refused, naming what was short and the largest free figure.
        r = c.put("/v1/vms/huge", json={"memory_mb": 100_000})
        assert r.status_code == 409 and "100000 MiB" in r.json()["detail"], r.text
        # Placement hints are the admins'.
        r = c.put("/v1/vms/pinned", json={"memory_mb": 128, "placement": {"node": "cn2"}})
        assert r.status_code == 403
    with cloud.client("admin") as c:
        r = c.put("/v1/vms/pinned", json={"memory_mb": 128, "placement": {"node": "cn2"}})
        assert r.status_code == 202 and c.get("/v1/vms/pinned").json()["node"] == "cn2"
        # A draining node takes no new VM.
        assert c.put("/v1/nodes/cn1", json={"draining": True}).json()["draining"] is True
        for i in range(3):
            r = c.put(f"/v1/vms/d{i}", json={"memory_mb": 128})
            assert r.status_code == 202 and c.get(f"/v1/vms/d{i}").json()["node"] != "cn1"


def test_network_references_and_uniqueness(cloud):
    with cloud.client() as c:
        assert c.put("/v1/vpcs/blue", json={}).status_code == 202
        vpc = _settle(cloud, c, "/v1/vpcs/blue")
        assert vpc["addresses"]["external_ip"] == "192.0.2.2"  # the first free public address
        r = c.put("/v1/subnets/web", json={"vpc": "nope", "cidr": "10.1.0.0/24"})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "vpc"]
        assert c.put("/v1/subnets/web", json={"vpc": "blue", "cidr": "10.1.0.0/24"}).status_code == 202
        _settle(cloud, c, "/v1/subnets/web")
        r = c.put("/v1/subnets/web2", json={"vpc": "blue", "cidr": "10.1.0.128/25"})
        assert r.status_code == 409 and "overlaps 10.1.0.0/24 of subnet web" in r.json()["detail"]
        assert r.json()["errors"][0]["loc"] == ["body", "cidr"]
        r = c.put("/v1/subnets/bad", json={"vpc": "blue", "cidr": "10.2.0.1/24"})
        assert r.status_code == 422
        assert c.put("/v1/security-groups/sg1", json={"rules": [{"protocol": "icmp"}]}).status_code == 202
        r = c.put("/v1/security-groups/sg2", json={"rules": [{"remote_group": "ghost"}]})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "rules", 0, "remote_group"]
        r = c.put("/v1/volumes/rbd/disk1", json={"size": "1G"})
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "volume_pools", r.text
        assert c.put("/v1/volumes/pool1/disk1", json={"size": "1G"}).status_code == 202
        assert c.put("/v1/public-ips/ip1", json={"address": "192.0.2.50"}).status_code == 202
        r = c.put("/v1/public-ips/ip2", json={"address": "192.0.2.50"})
        assert r.status_code == 409 and "held by public_ip ip1" in r.json()["detail"]
        r = c.put("/v1/public-ips/ip3", json={"address": "192.0.2.2"})  # the VPC's gateway address
        assert r.status_code == 409 and "vpc blue" in r.json()["detail"]
        for path in ("/v1/security-groups/sg1", "/v1/volumes/pool1/disk1", "/v1/public-ips/ip1"):
            _settle(cloud, c, path)

        # Unknown references in a VM spec: 422 naming the field, nothing recorded.
        for spec, loc in (
            ({"nics": [{"subnet": "ghost"}]}, ["body", "nics", 0, "subnet"]),
            (
                {"nics": [{"subnet": "web", "security_groups": ["ghost"]}]},
                ["body", "nics", 0, "security_groups", 0],
            ),
            ({"disks": [{"volume": "pool1/ghost"}]}, ["body", "disks", 0, "volume"]),
            ({"nics": [{"subnet": "web"}], "public_ip": "ghost"}, ["body", "public_ip"]),
        ):
            r = c.put("/v1/vms/vm-bad", json={"memory_mb": 128, **spec})
            assert r.status_code == 422 and r.json()["errors"][0]["loc"] == loc, r.text
        assert c.get("/v1/vms/vm-bad").status_code == 404
        # A caller boots only files of the images directory: any other file of the node would be
        # handed to the guest by libvirt.
        for kernel in ("/etc/shadow", "/var/lib/libvirt/images/../../../etc/shadow", "relative"):
            r = c.put("/v1/vms/vm-bad", json={"memory_mb": 128, "boot": {"kernel": kernel}})
            assert r.status_code == 422 and r.json()["errors"][0]["loc"][:3] == ["body", "boot", "kernel"], (
                r.text
            )

        spec = {
            "memory_mb": 128,
            "disks": [{"volume": "pool1/disk1"}],
            "nics": [{"subnet": "web", "security_groups": ["sg1"]}],
            "public_ip": "ip1",
        }
        assert c.put("/v1/vms/vm1", json=spec).status_code == 202
        vm1 = c.get("/v1/vms/vm1").json()
        nic = vm1["addresses"]["nics"][0]
        assert nic["ip"] == "10.1.0.2" and nic["port"] == "vm1-eth0" and nic["mac"].startswith("0a:")
        assert vm1["addresses"]["public_ip"]["address"] == "192.0.2.50"
        # While vm1's job runs (or right after), a second PUT of vm1 is refused as busy or accepted:
        # never two jobs of one resource at once.
        # A volume attached to two VMs without shareable, a public IP already bound: 409 naming the field.
        r = c.put("/v1/vms/vm2", json={"memory_mb": 128, "disks": [{"volume": "pool1/disk1"}]})
        assert r.status_code == 409 and r.json()["errors"][0]["loc"] == ["body", "disks", 0, "volume"], r.text
        r = c.put("/v1/vms/vm2", json={"memory_mb": 128, "nics": [{"subnet": "web"}], "public_ip": "ip1"})
        assert r.status_code == 409 and r.json()["errors"][0]["loc"] == ["body", "public_ip"], r.text
        r = c.put("/v1/vms/vm2", json={"memory_mb": 128, "nics": [{"subnet": "web", "ip": "10.1.0.2"}]})
        assert r.status_code == 409 and r.json()["errors"][0]["loc"] == ["body", "nics", 0, "ip"], r.text
        assert c.get("/v1/vms/vm2").status_code == 404
        _settle(cloud, c, "/v1/vms/vm1")

        # A load balancer over vm1: a member must be a VM with a NIC on the subnet.
        r = c.put(
            "/v1/load-balancers/lb1",
            json={"subnet": "web", "port": 80, "members": [{"vm": "ghost", "port": 80}]},
        )
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "members", 0, "vm"], r.text
        r = c.put(
            "/v1/load-balancers/lb1",
            json={"subnet": "web", "port": 80, "members": [{"vm": "vm1", "port": 80}]},
        )
        assert r.status_code == 202, r.text
        lb = _settle(cloud, c, "/v1/load-balancers/lb1")
        assert lb["addresses"] == {"subnet": "web", "vip": "10.1.0.3"}, lb
        r = c.delete("/v1/vms/vm1")
        assert r.status_code == 409 and "member of load balancer lb1" in r.json()["detail"], r.text

        # Deleting what others use: 409 naming the user, before any job.
        for path, word in (
            ("/v1/subnets/web", "has ports"),
            ("/v1/volumes/pool1/disk1", "attached to VM vm1"),
            ("/v1/public-ips/ip1", "bound to VM vm1"),
            ("/v1/security-groups/sg1", "used by vm1"),
            ("/v1/vpcs/blue", "has subnets web"),
        ):
            r = c.delete(path)
            assert (
                r.status_code == 409 and r.json()["code"] == "resource_in_use" and word in r.json()["detail"]
            ), (path, r.text)


def test_busy_resource_and_resource_playbooks(cloud):
    with cloud.client() as c:
        # Jobs here end at once; hold one resource's job queued by filling the executor first.
        r = c.post("/v1/jobs", json={"playbook": "vm", "extra_vars": {"vm_name": "x"}})
        assert r.status_code == 422 and r.json()["code"] == "resource_playbook"
        r = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 30}})
        r2 = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 30}})
        r3 = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 30}})
        r4 = c.post("/v1/jobs", json={"playbook": "diagnostics", "extra_vars": {"diagnostics_sleep": 30}})
        sleepers = [x.json()["id"] for x in (r, r2, r3, r4)]
        try:
            assert c.put("/v1/security-groups/busy", json={}).status_code == 202
            r = c.put("/v1/security-groups/busy", json={"rules": [{"protocol": "icmp"}]})
            assert r.status_code == 409 and r.json()["code"] == "resource_busy", r.text
            assert r.headers["Retry-After"] == "5"
        finally:
            for job_id in sleepers:
                c.post(f"/v1/jobs/{job_id}/cancel")
        rec = _settle(cloud, c, "/v1/security-groups/busy")
        assert rec["generation"] == 1 and rec["status"] in ("error", "ready")
        assert c.put("/v1/security-groups/busy", json={"rules": [{"protocol": "icmp"}]}).status_code == 202
        assert c.get("/v1/security-groups/busy").json()["generation"] == 2
