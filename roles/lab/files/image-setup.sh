#!/bin/sh
# Second stage of the lab node image, run inside a container of the debootstrap base.
# Installs the engines' packages and prepares systemd to run as PID 1 in a container.
set -eu
export DEBIAN_FRONTEND=noninteractive
mirror="$1"; suite="$2"; shift 2
cat > /etc/apt/sources.list <<SRC
deb $mirror $suite main
deb $mirror $suite-updates main
SRC
# Do not start services while installing: this is an image, not a running node.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > /etc/apt/apt.conf.d/90scloud-no-recommends
apt-get update -q
apt-get install -y -q "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
# Each container gets its own machine id at boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
# Units that have nothing to do in a container, or that would fight the host.
systemctl mask getty@tty1.service serial-getty@console.service systemd-udevd.service \
  systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-modules-load.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount systemd-remount-fs.service \
  systemd-timesyncd.service nvmf-autoconnect.service >/dev/null 2>&1 || true
# Engines are enabled by the roles, not by the image.
for unit in openvswitch-switch ovn-central ovn-host ovn-northd ovn-controller libvirtd virtlogd \
  ceph.target ceph-mon.target ceph-mgr.target ceph-osd.target keepalived haproxy postgresql chrony \
  rabbitmq-server epmd.socket epmd.service prometheus prometheus-alertmanager prometheus-node-exporter \
  prometheus-libvirt-exporter; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
done
mkdir -p /root/.ssh && chmod 0700 /root/.ssh
ssh-keygen -A >/dev/null 2>&1 || true
rm -f /etc/ssh/ssh_host_*
# Host keys are made per container at first boot.
cat > /etc/systemd/system/scloud-ssh-hostkeys.service <<UNIT
[Unit]
Description=Generate SSH host keys for this lab node
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable scloud-ssh-hostkeys.service ssh.service >/dev/null
