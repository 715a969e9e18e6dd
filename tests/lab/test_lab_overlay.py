"""Geneve between lab nodes with the userspace datapath, over the lab's overlay network.

The lab (`make lab`) gives every node a second NIC, eth1, on the overlay network 10.89.11.0/24. The
ovs role (ovs_underlay_bridge: br-phy) moves that address onto br-phy with eth1 plugged in, so the
netdev datapath can send the Geneve packets; eth0 (SSH) is never touched. On the whole cloud this
tier deployed (tests/lab/conftest.py: cloud_deployed, site.yml twice), it puts a logical switch with
two ports bound on scloud-node1 and scloud-node3 (veth-backed namespaces) and proves they ping each
other across nodes. Everything it created is removed at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import pytest

from tests.harness import REPO, containers_running, node_exec, run_playbook

INVENTORY = str(REPO / "inventories" / "lab")
NODES = {
    "scloud-node1": ("10.89.10.11", "10.89.11.11"),
    "scloud-node2": ("10.89.10.12", "10.89.11.12"),
    "scloud-node3": ("10.89.10.13", "10.89.11.13"),
}
SWITCH = "ovl-test"
CIDR = "192.168.77.0/24"
VMS = [
    {"name": "ovlvm1", "ip": "192.168.77.11", "node": "scloud-node1"},
    {"name": "ovlvm3", "ip": "192.168.77.13", "node": "scloud-node3"},
]

pytestmark = pytest.mark.slow

PLUG = """
- name: A switch and two ports through the NB remotes
  hosts: scloud-node1
  gather_facts: false
  tasks:
    - name: Switch
      scloud.stack.ovn_switch:
        name: "{{ ovl_switch }}"
        vpc: "{{ ovl_switch }}"
        cidr: "{{ ovl_cidr }}"
        dhcp: false
        state: "{{ ovl_state }}"
        ovsdb_remote: "{{ ovn_nb_remotes }}"
      when: ovl_state == 'present'
    - name: Ports
      scloud.stack.ovn_port:
        switch: "{{ ovl_switch }}"
        name: "{{ item.name }}"
        ips: ["{{ item.ip }}"]
        state: "{{ ovl_state }}"
        ovsdb_remote: "{{ ovn_nb_remotes }}"
      loop: "{{ ovl_vms }}"
      register: ovl_ports
    - name: Switch removed after its ports
      scloud.stack.ovn_switch:
        name: "{{ ovl_switch }}"
        state: absent
        ovsdb_remote: "{{ ovn_nb_remotes }}"
      when: ovl_state == 'absent'
    - name: MACs
      ansible.builtin.set_fact:
        ovl_macs: >-
          {{ ovl_ports.results | map(attribute='port') | items2dict(key_name='name', value_name='mac') }}
      when: ovl_state == 'present'
"""

# Run once the veth pairs exist: an OVS port whose device is missing stays in error with netdev.
PORTS = """
- name: The host end of each veth pair on br-int, bound to its port
  hosts: scloud-node1:scloud-node3
  gather_facts: false
  tasks:
    - name: Host ends on br-int
      scloud.stack.ovs_port:
        bridge: br-int
        name: "{{ item.name }}-h"
        state: "{{ ovl_state }}"
        external_ids:
          iface-id: "{{ item.name }}"
      loop: "{{ ovl_vms | selectattr('node', 'equalto', inventory_hostname) | list }}"
      when: ovl_state == 'present'
    - name: Host ends off br-int
      scloud.stack.ovs_port:
        bridge: br-int
        name: "{{ item.name }}-h"
        state: absent
      loop: "{{ ovl_vms | selectattr('node', 'equalto', inventory_hostname) | list }}"
      when: ovl_state == 'absent'
"""


_node = node_exec


def _lab_running():
    return containers_running(NODES)


def _veth(vm, mac):
    node, name = vm["node"], vm["name"]
    _node(node, "ip", "netns", "add", f"ns-{name}")
    for argv in (
        ["ip", "link", "add", f"{name}-h", "type", "veth", "peer", "name", name],
        ["ip", "link", "set", name, "netns", f"ns-{name}"],
        ["ip", "-n", f"ns-{name}", "link", "set", name, "address", mac],
        ["ip", "-n", f"ns-{name}", "addr", "add", f"{vm['ip']}/24", "dev", name],
        ["ip", "-n", f"ns-{name}", "link", "set", name, "up"],
        ["ip", "-n", f"ns-{name}", "link", "set", "lo", "up"],
        ["ip", "link", "set", f"{name}-h", "up"],
    ):
        _node(node, *argv)


def _unplug(vm):
    _node(vm["node"], "ip", "link", "del", f"{vm['name']}-h", check=False)
    _node(vm["node"], "ip", "netns", "del", f"ns-{vm['name']}", check=False)


@pytest.fixture(scope="module")
def deployed(cloud_deployed):
    """The whole cloud (host, ovs, ovn_central, ovn_controller among its roles) on the lab."""
    assert _lab_running(), "the lab is not running: make lab"
    return cloud_deployed


@pytest.fixture(scope="module")
def plugged(deployed, tmp_path_factory):
    """The switch, its two ports and their veth namespaces on node1 and node3; removed afterwards."""
    book = tmp_path_factory.mktemp("plug") / "plug.yml"
    book.write_text(PLUG)
    ports = book.parent / "ports.yml"
    ports.write_text(PORTS)
    extra = {"ovl_switch": SWITCH, "ovl_cidr": CIDR, "ovl_vms": VMS}
    for vm in VMS:
        _unplug(vm)
    try:
        run = run_playbook(str(book), inventory=INVENTORY, extra_vars={**extra, "ovl_state": "present"})
        assert run.ok, run.stdout[-6000:]
        macs = next(
            e["event_data"]["res"]["ansible_facts"]["ovl_macs"]
            for e in run.events
            if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == "MACs"
        )
        for vm in VMS:
            _veth(vm, macs[vm["name"]])
        run = run_playbook(str(ports), inventory=INVENTORY, extra_vars={**extra, "ovl_state": "present"})
        assert run.ok, run.stdout[-6000:]
        yield macs
    finally:
        unplugged = run_playbook(str(ports), inventory=INVENTORY, extra_vars={**extra, "ovl_state": "absent"})
        for vm in VMS:
            _unplug(vm)
        assert unplugged.ok, unplugged.stdout[-6000:]
        run = run_playbook(str(book), inventory=INVENTORY, extra_vars={**extra, "ovl_state": "absent"})
        assert run.ok, run.stdout[-6000:]


def test_overlay_address_on_br_phy_ssh_address_untouched(deployed):
    for node, (address, overlay) in NODES.items():
        links = {link["ifname"]: link for link in json.loads(_node(node, "ip", "-j", "-4", "addr").stdout)}
        assert [a["local"] for a in links["br-phy"]["addr_info"]] == [overlay], (node, links)
        assert [a["local"] for a in links["eth0"]["addr_info"]][0] == address, (node, links)
        assert not links.get("eth1", {}).get("addr_info"), (node, links)
        ports = _node(node, "ovs-vsctl", "list-ports", "br-phy").stdout.split()
        assert ports == ["eth1"], (node, ports)
        encap = _node(node, "ovs-vsctl", "get", "open_vswitch", ".", "external_ids:ovn-encap-ip").stdout
        assert encap.strip().strip('"') == overlay


def _ping(src, dst_ip, count=5):
    out = _node(
        src["node"],
        "ip",
        "netns",
        "exec",
        f"ns-{src['name']}",
        "ping",
        "-c",
        str(count),
        "-W",
        "2",
        dst_ip,
        check=False,
    )
    return out


@pytest.mark.overlay_ping
def test_ports_on_two_nodes_ping_over_geneve(plugged):
    # ovn-controller binds the ports and installs the flows; the first ARP may take a moment.
    deadline = time.monotonic() + 60
    while True:
        first = _ping(VMS[0], VMS[1]["ip"], count=1)
        if first.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert first.returncode == 0, first.stdout + first.stderr
    for src, dst in ((VMS[0], VMS[1]), (VMS[1], VMS[0])):
        out = _ping(src, dst["ip"])
        assert out.returncode == 0, out.stdout + out.stderr
        assert " 0% packet loss" in out.stdout, out.stdout
        rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)", out.stdout)
        print(
            f"\n{src['node']} -> {dst['node']} over Geneve: rtt min/avg/max "
            f"{rtt.group(1)}/{rtt.group(2)}/{rtt.group(3)} ms"
        )
    # The packets crossed the overlay NIC as Geneve (UDP 6081) between the overlay addresses.
    stats = _node("scloud-node1", "ovs-appctl", "dpctl/dump-flows").stdout
    assert "tnl_push" in stats or "tnl_pop" in stats, stats[-3000:]


def _lab_objects(tag):
    """Containers and networks the refused lab could have made: its names, or its label. Only
    these: the other lane of `make test` creates and removes its own lab meanwhile."""

    def podman_json(*args):
        out = subprocess.run(
            ["podman", *args, "--format", "json"], check=True, capture_output=True, text=True
        )
        return json.loads(out.stdout or "[]")

    containers = {
        n
        for c in podman_json("ps", "--all")
        for n in c["Names"]
        if n.startswith(f"t{tag}-") or (c.get("Labels") or {}).get("scloud_lab") == f"t-{tag}"
    }
    networks = {
        n["name"]
        for n in podman_json("network", "ls")
        if n["name"].startswith(f"t-{tag}") or (n.get("labels") or {}).get("scloud_lab") == f"t-{tag}"
    }
    return containers, networks


@pytest.mark.parametrize(
    ("overlays", "expected"),
    [
        (
            ["10.89.12.11", "10.89.11.12"],
            "scloud_overlay_address (10.89.12.11) must be a usable address of "
            "lab_overlay_subnet 10.89.11.0/24",
        ),
        (["10.89.11.11", "10.89.11.11"], "two lab nodes share an overlay address"),
    ],
)
def test_bad_overlay_address_is_refused_before_anything(tmp_path, overlays, expected):
    tag = uuid.uuid4().hex[:6]
    hosts = {
        f"t{tag}-n{i}": {"ansible_host": f"10.89.10.{21 + i}", "scloud_overlay_address": ov}
        for i, ov in enumerate(overlays)
    }
    inventory = {"all": {"children": {"lab": {"hosts": hosts}}}}
    extra = {
        "lab_name": f"t-{tag}",
        "lab_network": f"t-{tag}",
        "lab_overlay_network": f"t-{tag}-ov",
        "lab_overlay_subnet": "10.89.11.0/24",
        "lab_state_dir": str(tmp_path / "state"),
    }
    assert _lab_objects(tag) == (set(), set())
    run = run_playbook("playbooks/lab.yml", inventory=inventory, extra_vars=extra)
    assert run.status == "failed"
    msgs = [e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"]
    msgs += [
        item.get("msg", "")
        for e in run.events
        if e.get("event") == "runner_on_failed"
        for item in e["event_data"]["res"].get("results", [])
        if item.get("failed")
    ]
    assert any(expected in m and "Nothing was changed" in m for m in msgs), msgs
    assert _lab_objects(tag) == (set(), set())
    assert not (tmp_path / "state").exists()
