"""Verify the libvirt role and a VM on the Molecule node, read with virsh, stat and systemctl."""

import json


def test_kvm_device_usable_by_qemu(host):
    kvm = host.file("/dev/kvm")
    assert kvm.group == "kvm" and kvm.mode == 0o660
    fact = json.loads(host.file("/etc/ansible/facts.d/scloud_libvirt.fact").content_string)
    assert fact == {"kvm_usable": True, "virt_type": "kvm"}


def test_libvirtd_runs_under_systemd(host):
    assert host.service("libvirtd").is_running
    assert host.service("libvirtd").is_enabled


def test_rbd_driver_installed(host):
    assert host.package("qemu-block-extra").is_installed
    assert host.file("/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so").exists


def test_ceph_secret(host):
    out = host.check_output("virsh -c qemu:///system secret-list")
    assert "client.libvirt secret" in out


def test_vm_runs(host):
    assert host.check_output("virsh -c qemu:///system domstate molecule-vm1") == "running"
    xml = host.check_output("virsh -c qemu:///system dumpxml molecule-vm1")
    assert "type='kvm'" in xml and "<acpi/>" in xml
