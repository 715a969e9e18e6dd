#!/bin/busybox sh
# /init of the drill guest: Debian's kernel + this busybox initramfs, direct boot, TCG.
# Loads the virtio drivers, configures eth0 from the kernel command line (sip=ADDR/LEN) and, with
# speer=ADDR, pings the peer once a second; with sio=1, writes a counter to its disk once a second
# (fsync: the write reached Ceph), drops the block cache and reads it back. Each result goes to the
# serial console (kept in /var/log/libvirt/qemu/<domain>-console.log on the node).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for pass in 1 2; do
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk; do
    [ -d "/sys/module/$m" ] || insmod "/lib/modules/$m.ko" 2>/dev/null
  done
done
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p"; }
sip=$(arg sip)
speer=$(arg speer)
sio=$(arg sio)
echo "scloud-guest-up" > /dev/ttyS0
[ -e /sys/block/vda/size ] && echo "scloud-disk vda sectors=$(cat /sys/block/vda/size)" > /dev/ttyS0
ip link set lo up
ip link set eth0 up
[ -n "$sip" ] && ip addr add "$sip" dev eth0
echo "scloud-net $(ip -4 -o addr show dev eth0 | tr -s ' ')" > /dev/ttyS0
if [ -n "$sio" ] && [ -e /dev/vda ]; then
  (
    m=0
    while true; do
      r=fail
      if echo "scloud-io-$m" | dd of=/dev/vda bs=512 seek=2048 count=1 conv=sync,fsync 2> /dev/null \
        && blockdev --flushbufs /dev/vda \
        && dd if=/dev/vda bs=512 skip=2048 count=1 2> /dev/null | grep -q "^scloud-io-$m\$"; then
        r=ok
      fi
      echo "scloud-io $r $m $(cat /proc/uptime)" > /dev/ttyS0
      m=$((m + 1))
      sleep 1
    done
  ) &
fi
n=0
while true; do
  if [ -n "$speer" ]; then
    if ping -c 1 -W 3 "$speer" > /dev/null 2>&1; then r=ok; else r=fail; fi
    echo "scloud-ping $r $n $(cat /proc/uptime)" > /dev/ttyS0
  fi
  n=$((n + 1))
  sleep 1
done
