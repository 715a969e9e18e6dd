"""Verify the host role on the Molecule nodes, read independently of Ansible."""

import json


def test_hosts_file_lists_every_member(host):
    hosts = host.file("/etc/hosts").content_string
    assert "# BEGIN scloud.stack cluster members" in hosts
    for name in ("molecule-host1", "molecule-host2"):
        assert name in hosts


def test_hostname(host):
    # prepare.yml gave the kernel a wrong hostname: the role set it back to host_hostname (the
    # inventory name by default), so this fails if the role does not set it.
    expected = host.backend.get_hostname()
    assert host.check_output("hostname") == expected
    assert host.file("/etc/hostname").content_string.strip() == expected
    assert f" {expected}" in host.file("/etc/hosts").content_string


def test_base_packages(host):
    for pkg in ("chrony", "python3-apt", "iproute2", "curl"):
        assert host.package(pkg).is_installed, pkg


def test_chrony_runs_without_setting_the_clock(host):
    assert host.service("chrony").is_running
    assert "-x" in host.file("/etc/default/chrony").content_string


def test_namespaced_sysctls(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.ipv4.conf.all.rp_filter") == 2
    conf = host.file("/etc/sysctl.d/60-scloud.conf").content_string
    assert "net.ipv4.conf.default.rp_filter=2" in conf


def test_kernel_wide_sysctls_left_alone_in_containers(host):
    assert not host.file("/etc/sysctl.d/61-scloud-kernel.conf").exists


def test_kvm_fact(host):
    out = host.check_output("/etc/ansible/facts.d/scloud_host.fact")
    fact = json.loads(out)
    assert set(fact) == {"kvm_device", "kvm_usable", "virt_type"}
    assert fact["virt_type"] == ("kvm" if fact["kvm_usable"] else "qemu")
