"""Smoke test of the ``libvirt_host`` fixture: a tiny KVM (or TCG) domain plugged into an OVS bridge.

The bridge is a userspace (``netdev``) Open vSwitch bridge from the ``ovs`` fixture. libvirt's own
``<virtualport type='openvswitch'/>`` works on it: libvirt creates the tap device and adds it to the
bridge with ``ovs-vsctl add-port`` (at the default ``/var/run/openvswitch/db.sock``); the netdev
datapath then reads the tap like any system device. No ``type='ethernet'`` workaround is needed.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.engines.libvirt import TEST_PREFIX

pytestmark = [pytest.mark.libvirt, pytest.mark.ovs]

BRIDGE = "scloudt-br0"
DOMAIN = f"{TEST_PREFIX}smoke"


def _domain_xml(virt_type):
    return f"""
<domain type='{virt_type}'>
  <name>{DOMAIN}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <interface type='bridge'>
      <source bridge='{BRIDGE}'/>
      <virtualport type='openvswitch'/>
      <mac address='52:54:00:5c:10:01'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'/>
  </devices>
</domain>
"""


def test_libvirt_answers(libvirt_host):
    assert libvirt_host.uri == "qemu:///system"
    assert libvirt_host.virt_type in ("kvm", "qemu")
    assert "Running hypervisor: QEMU" in libvirt_host.virsh("version")
    print(
        f"\n[libvirt fixture] virt_type={libvirt_host.virt_type} start={libvirt_host.start_seconds}s "
        f"started_here={libvirt_host.started_here}"
    )


def test_tiny_domain_on_netdev_ovs_bridge(libvirt_host, ovs, tmp_path):
    ovs.vsctl("--may-exist", "add-br", BRIDGE, "--", "set", "Bridge", BRIDGE, "datapath_type=netdev")
    xml = tmp_path / "domain.xml"
    xml.write_text(_domain_xml(libvirt_host.virt_type))
    try:
        libvirt_host.virsh("define", xml)
        libvirt_host.virsh("start", DOMAIN)
        assert libvirt_host.virsh("domstate", DOMAIN).strip() == "running"
        dumped = libvirt_host.virsh("dumpxml", DOMAIN)
        assert f"type='{libvirt_host.virt_type}'" in dumped
        assert "<acpi/>" in dumped
        # The tap libvirt made is a port of the OVS bridge, tagged with the domain's MAC and UUID.
        iflist = libvirt_host.virsh("domiflist", DOMAIN).split()
        tap = iflist[0]
        assert "52:54:00:5c:10:01" in iflist
        ports = ovs.vsctl("list-ports", BRIDGE).split()
        assert tap in ports
        uuid = libvirt_host.virsh("domuuid", DOMAIN).strip()
        ext = ovs.vsctl("get", "Interface", tap, "external_ids")
        assert "52:54:00:5c:10:01" in ext and uuid in ext
        # The guest keeps running (SeaBIOS idles with no boot device).
        time.sleep(1)
        assert libvirt_host.virsh("domstate", DOMAIN).strip() == "running"
        libvirt_host.virsh("destroy", DOMAIN)
        # libvirt removes the port when the domain stops.
        assert tap not in ovs.vsctl("list-ports", BRIDGE).split()
    finally:
        libvirt_host.virsh("destroy", DOMAIN, check=False)
        libvirt_host.virsh("undefine", DOMAIN, check=False)
        ovs.vsctl("--if-exists", "del-br", BRIDGE)
    assert DOMAIN not in libvirt_host.domains()
