"""Packets, not only rows: network namespaces plugged into OVN as VM ports ping each other.

Each "VM" is a network namespace holding one end of a veth pair; the other end is plugged into
br-int with ``ovs_port`` (``external_ids:iface-id`` = the OVN port), so ovn-controller binds it on
the local chassis and the userspace datapath forwards between them. Everything on the OVN side is
made by the modules; ping in the namespaces is the independent check.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.harness import run_tasks

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

VMS = {  # name: (switch, ip)
    "dp-vm1": ("dp-a", "10.80.1.10"),
    "dp-vm2": ("dp-a", "10.80.1.11"),
    "dp-vm3": ("dp-b", "10.80.2.10"),
    "dp-vm4": ("dp-other", "10.81.1.10"),
}
SUBNETS = [
    ("dp-a", "dp", "10.80.1.0/24"),
    ("dp-b", "dp", "10.80.2.0/24"),
    ("dp-other", "dp2", "10.81.1.0/24"),
]


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def ns(vm):
    return f"ns-{vm}"


def ping(src, dst_ip, count=1):
    return sh("ip", "netns", "exec", ns(src), "ping", "-c", str(count), "-W", "1", dst_ip, check=False)


def reaches(src, dst_ip, tries=15):
    """True as soon as one ping passes (flows may take a moment to be installed)."""
    for _ in range(tries):
        if ping(src, dst_ip).returncode == 0:
            return True
        time.sleep(0.3)
    return False


def blocked(src, dst_ip):
    return ping(src, dst_ip, count=3).returncode != 0


@pytest.fixture(scope="module")
def vms(ovs, ovn):
    tasks = [
        ("scloud.stack.ovn_switch", {"name": n, "vpc": v, "cidr": c, "dhcp": False}) for n, v, c in SUBNETS
    ]
    tasks += [
        ("scloud.stack.ovn_port", {"switch": sw, "name": vm, "ips": [ip]}) for vm, (sw, ip) in VMS.items()
    ]
    tasks.append(
        (
            "scloud.stack.ovn_router",
            {"name": "dp-router", "vpc": "dp", "subnets": [{"switch": "dp-a"}, {"switch": "dp-b"}]},
        )
    )
    tasks.append(
        ("scloud.stack.ovn_router", {"name": "dp2-router", "vpc": "dp2", "subnets": [{"switch": "dp-other"}]})
    )
    results = run_tasks(tasks)
    ports = {r["port"]["name"]: r["port"] for r in results if "port" in r.result}
    # br-int is made by ovn-controller (datapath type from ovn-bridge-datapath-type).
    deadline = time.monotonic() + 20
    while "br-int" not in ovs.vsctl("list-br").split():
        assert time.monotonic() < deadline, "ovn-controller did not create br-int"
        time.sleep(0.2)
    plug = []
    for vm, (_sw, ip) in VMS.items():
        host_end, vm_end = f"{vm}-h", "eth0"
        # What a session interrupted before its teardown left (the namespace, the veth's host end).
        sh("ip", "netns", "del", ns(vm), check=False)
        sh("ip", "link", "del", host_end, check=False)
        sh("ip", "netns", "add", ns(vm))
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", f"{vm}-v")
        sh("ip", "link", "set", f"{vm}-v", "netns", ns(vm))
        sh("ip", "-n", ns(vm), "link", "set", f"{vm}-v", "name", vm_end)
        sh("ip", "-n", ns(vm), "link", "set", vm_end, "address", ports[vm]["mac"])
        sh("ip", "-n", ns(vm), "addr", "add", f"{ip}/24", "dev", vm_end)
        sh("ip", "-n", ns(vm), "link", "set", vm_end, "up")
        sh("ip", "-n", ns(vm), "link", "set", "lo", "up")
        gateway = ip.rsplit(".", 1)[0] + ".1"
        sh("ip", "-n", ns(vm), "route", "add", "default", "via", gateway)
        sh("ip", "link", "set", host_end, "up")
        plug.append(
            (
                "scloud.stack.ovs_port",
                {"bridge": "br-int", "name": host_end, "external_ids": {"iface-id": vm}},
            )
        )
    run_tasks(plug)
    ovn.nbctl("--wait=hv", "sync")
    yield ports
    for vm in VMS:
        sh("ip", "netns", "del", ns(vm), check=False)
        sh("ip", "link", "del", f"{vm}-h", check=False)
        ovs.vsctl("--if-exists", "del-port", "br-int", f"{vm}-h")
    cleanup = [
        ("scloud.stack.ovn_router", {"name": r, "state": "absent"}) for r in ("dp-router", "dp2-router")
    ]
    cleanup += [("scloud.stack.ovn_port", {"name": vm, "state": "absent"}) for vm in VMS]
    cleanup += [("scloud.stack.ovn_security_group", {"name": "dp-sg", "state": "absent"})]
    cleanup += [("scloud.stack.ovn_switch", {"name": n, "state": "absent"}) for n, _, _ in SUBNETS]
    run_tasks(cleanup)


def test_two_ports_of_one_subnet_ping(vms):
    assert reaches("dp-vm1", "10.80.1.11")


def test_security_group_without_icmp_blocks_and_the_rule_restores(vms):
    run_tasks(
        [
            (
                "scloud.stack.ovn_security_group",
                {"name": "dp-sg", "rules": [{"protocol": "tcp", "port_range": 22}, {"direction": "egress"}]},
            )
        ]
        + [
            (
                "scloud.stack.ovn_port",
                {"switch": "dp-a", "name": vm, "ips": [VMS[vm][1]], "security_groups": ["dp-sg"]},
            )
            for vm in ("dp-vm1", "dp-vm2")
        ]
    )
    try:
        assert blocked("dp-vm1", "10.80.1.11")
        run_tasks(
            [
                (
                    "scloud.stack.ovn_security_group",
                    {
                        "name": "dp-sg",
                        "rules": [
                            {"protocol": "tcp", "port_range": 22},
                            {"direction": "egress"},
                            {"protocol": "icmp"},
                        ],
                    },
                )
            ]
        )
        assert reaches("dp-vm1", "10.80.1.11")
    finally:
        run_tasks(
            [
                (
                    "scloud.stack.ovn_port",
                    {"switch": "dp-a", "name": vm, "ips": [VMS[vm][1]], "security_groups": []},
                )
                for vm in ("dp-vm1", "dp-vm2")
            ]
        )


def test_two_subnets_of_one_vpc_reach_each_other_through_the_router(vms):
    assert reaches("dp-vm1", "10.80.2.10")
    assert reaches("dp-vm3", "10.80.1.11")


def test_two_vpcs_are_isolated(vms):
    # Working inside its own VPC (the router answers)...
    assert reaches("dp-vm4", "10.81.1.1")
    # ...but nothing crosses to the other VPC, in either direction.
    assert blocked("dp-vm1", "10.81.1.10")
    assert blocked("dp-vm4", "10.80.1.10")
