from ansible_collections.scloud.stack.plugins.module_utils._libvirt import domxml
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.spec import build_spec

PARAMS = {
    "name": "vm1",
    "state": "running",
    "vcpus": 2,
    "max_vcpus": 4,
    "memory": "1G",
    "max_memory": "2G",
    "virt_type": "kvm",
    "disks": [
        {
            "target": "vda",
            "cache": "none",
            "rbd": {
                "pool": "vms",
                "image": "vm1",
                "secret_uuid": "5a1c0e6e-9d7b-4a8f-8f39-3c2f5c1a1f00",
                "hosts": ["10.0.0.1:6789"],
            },
        },
        {"target": "vdb", "path": "/var/lib/libvirt/images/data.img", "readonly": True},
    ],
    "nics": [
        {"bridge": "br-ex", "vlan": 7, "mac": "52:54:00:00:00:02"},
        {"ovn_port": "vm1-eth0"},
        {"ovn_port": "0c5d4a1e-1111-4222-8333-944445555666", "mac": "52:54:00:00:00:01"},
    ],
}

# What libvirt 9.0 gives back for such a domain: addresses, aliases, controllers, expanded CPU,
# the OVS interfaceid it invents for a plain bridge NIC, <auth> inside <source>.
LIBVIRT_XML = """
<domain type='kvm' id='3'>
  <name>vm1</name>
  <uuid>75f5091f-258f-554a-8f1e-1ab88d9a018e</uuid>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact' check='full'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source protocol='rbd' name='vms/vm1' index='2'>
        <host name='10.0.0.1' port='6789'/>
        <auth username='admin'><secret type='ceph' uuid='5a1c0e6e-9d7b-4a8f-8f39-3c2f5c1a1f00'/></auth>
      </source>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/data.img' index='1'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'/>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:02'/>
      <source bridge='br-ex'/>
      <vlan><tag id='7'/></vlan>
      <virtualport type='openvswitch'>
        <parameters interfaceid='9f0b7f4e-8f5d-4c7e-9d8a-2f7c1d9b0a11'/>
      </virtualport>
      <target dev='vnet3'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
    INTERFACE_OVN
    <interface type='bridge'>
      <mac address='52:54:00:00:00:01'/>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='0c5d4a1e-1111-4222-8333-944445555666'/>
      </virtualport>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


def _spec():
    spec = build_spec(PARAMS)
    for nic in spec["nics"]:
        nic["_ovs"] = True
    return spec


def _libvirt_xml(spec):
    ovn = [n for n in spec["nics"] if n["ovn_port"] == "vm1-eth0"][0]
    iface = domxml.interface_id("vm1-eth0")
    return LIBVIRT_XML.replace(
        "INTERFACE_OVN",
        f"""<interface type='bridge'>
      <mac address='{ovn["mac"]}'/><source bridge='br-int'/>
      <virtualport type='openvswitch'><parameters interfaceid='{iface}'/></virtualport>
      <model type='virtio'/></interface>""",
    )


def test_parse_reads_back_exactly_the_managed_fields():
    spec = _spec()
    parsed = domxml.parse(_libvirt_xml(spec), {"vm1-eth0", "0c5d4a1e-1111-4222-8333-944445555666"})
    assert domxml.comparable(parsed, spec) == domxml.comparable(spec, spec)
    assert parsed["uuid"] == "75f5091f-258f-554a-8f1e-1ab88d9a018e"


def test_generated_xml_round_trips():
    spec = _spec()
    xml = domxml.new_domain_xml(spec, "75f5091f-258f-554a-8f1e-1ab88d9a018e")
    parsed = domxml.parse(xml, {"vm1-eth0", "0c5d4a1e-1111-4222-8333-944445555666"})
    assert domxml.comparable(parsed, spec) == domxml.comparable(spec, spec)
    assert "<acpi />" in xml or "<acpi/>" in xml


def test_edit_without_changes_keeps_the_definition_equal():
    spec = _spec()
    xml = _libvirt_xml(spec)
    edited = domxml.edit(xml, spec)
    ports = {"vm1-eth0", "0c5d4a1e-1111-4222-8333-944445555666"}
    before = domxml.comparable(domxml.parse(xml, ports), spec)
    assert domxml.comparable(domxml.parse(edited, ports), spec) == before
    assert "slot='0x04'" in edited.replace('"', "'")  # addresses kept


def test_edit_adds_removes_and_changes_only_what_differs():
    spec = _spec()
    xml = _libvirt_xml(spec)
    params = dict(PARAMS, vcpus=3, disks=[PARAMS["disks"][0], {"target": "vdc", "path": "/x.img"}])
    params["nics"] = [dict(PARAMS["nics"][0], vlan=8)] + PARAMS["nics"][1:]
    new = build_spec(params)
    for nic in new["nics"]:
        nic["_ovs"] = True
    edited = domxml.edit(xml, new)
    parsed = domxml.parse(edited, {"vm1-eth0", "0c5d4a1e-1111-4222-8333-944445555666"})
    assert [d["target"] for d in parsed["disks"]] == ["vda", "vdc"]
    assert parsed["vcpus"] == 3
    vlan_nic = [n for n in parsed["nics"] if n["mac"] == "52:54:00:00:00:02"][0]
    assert vlan_nic["vlan"] == 8
    assert "slot='0x03'" in edited.replace('"', "'")  # the changed NIC keeps its PCI slot


def test_interface_id_of_ovn_ports():
    uuid = "0c5d4a1e-1111-4222-8333-944445555666"
    assert domxml.interface_id(uuid) == uuid
    iface = domxml.interface_id("vm1-eth0")
    assert iface == domxml.interface_id("vm1-eth0") != domxml.interface_id("vm2-eth0")
    assert domxml.is_uuid(domxml.interface_id("vm1-eth0"))


def test_direct_boot_ignores_the_boot_dev_libvirt_adds():
    xml = (
        "<domain type='kvm'><name>a</name><memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type>"
        "<kernel>/k</kernel><boot dev='hd'/></os><devices/></domain>"
    )
    assert domxml.parse(xml)["boot"] == {"dev": [], "kernel": "/k", "initrd": None, "cmdline": None}
