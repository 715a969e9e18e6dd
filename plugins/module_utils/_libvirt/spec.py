# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed domain spec: module options validated and normalised, with no engine involved.

A normalised spec is a plain dict that :mod:`.xml` turns into domain XML and that libvirt's parsed
XML is turned back into, so desired and current state compare field by field::

    {"name", "virt_type", "vcpus", "max_vcpus", "memory", "max_memory" (KiB), "machine",
     "cpu_mode", "boot": {"dev", "kernel", "initrd", "cmdline"}, "disks": [...], "nics": [...]}

``None`` means "not managed": the field is left as libvirt has it.
"""

from __future__ import annotations

import hashlib
import re
import uuid as uuidlib

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._common.units import format_size, parse_size

# libvirt_secret derives a new secret's UUID from its usage, so that every node and check mode agree.
_SECRET_NAMESPACE = uuidlib.UUID("6b1f3c2e-2a2d-4f4e-9a59-5c10d5ac0002")


def secret_uuid(usage_type, usage_name):
    return str(uuidlib.uuid5(_SECRET_NAMESPACE, f"{usage_type}:{usage_name}"))


def default_secret_uuid(user):
    """The secret of Ceph user ``user`` as libvirt_secret creates it for usage ``client.USER secret``."""
    return secret_uuid("ceph", f"client.{user} secret")


MIN_MEMORY = 1024**2  # 1 MiB: below that QEMU cannot even load its firmware
MAC_PREFIX = "52:54:00"  # QEMU's OUI, what libvirt itself uses for generated MACs
UUID_NAMESPACE = uuidlib.UUID("6b1f3c2e-2a2d-4f4e-9a59-5c10d5ac0001")

DISK_BUSES = ("virtio", "scsi", "sata", "ide", "usb")
DISK_CACHES = ("default", "none", "writeback", "writethrough", "directsync", "unsafe")
BOOT_DEVICES = ("hd", "network", "cdrom")
CPU_MODES = ("host-passthrough", "host-model", "maximum")
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139")
_TARGET_RE = re.compile(r"^(vd|sd|hd|xvd)[a-z]{1,3}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_HOST_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+)(:(\d{1,5}))?$")
_DEFAULT_BUS = {"vd": "virtio", "sd": "scsi", "hd": "ide", "xvd": "xen"}


def domain_uuid(name):
    """The UUID a new domain gets: derived from its name, so check mode can predict it."""
    return str(uuidlib.uuid5(UUID_NAMESPACE, name))


def derived_mac(domain, key):
    """A stable MAC for a NIC given without one: the same domain and NIC always get the same MAC."""
    digest = hashlib.sha256(f"{domain}|{key}".encode()).digest()
    return MAC_PREFIX + ":" + ":".join(f"{b:02x}" for b in digest[:3])


def normalise_mac(value, option):
    mac = str(value).strip().lower().replace("-", ":")
    if not _MAC_RE.match(mac):
        raise ValidationError(option, f"{value!r} is not a MAC address (six hex octets, 52:54:00:12:34:56)")
    if int(mac[:2], 16) & 1:
        raise ValidationError(option, f"{value!r} is a multicast MAC address; a NIC needs a unicast one")
    if mac == "00:00:00:00:00:00":
        raise ValidationError(option, f"{value!r} is the null MAC address")
    return mac


def _kib(value, option, minimum=MIN_MEMORY):
    size = parse_size(value, option=option)
    if size < minimum:
        raise ValidationError(option, f"{value!r} is below the minimum of {format_size(minimum)}")
    if size % 1024:
        raise ValidationError(option, f"{value!r} is not a whole number of KiB")
    return size // 1024


def _uuid(value, option):
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise ValidationError(option, f"{value!r} is not a UUID") from None


def _disk(index, raw):
    opt = f"disks[{index}]"
    target = raw.get("target")
    if not target or not _TARGET_RE.match(str(target)):
        raise ValidationError(f"{opt}.target", f"{target!r} is not a disk target (vda, vdb, sda, hdc...)")
    has_rbd, has_path = bool(raw.get("rbd")), bool(raw.get("path"))
    if has_rbd == has_path:
        raise ValidationError(opt, "exactly one of rbd or path is required")
    prefix = re.match(r"^(vd|sd|hd|xvd)", target).group(1)
    bus = raw.get("bus") or _DEFAULT_BUS[prefix]
    if bus not in DISK_BUSES:
        raise ValidationError(f"{opt}.bus", f"{bus!r} is not one of {', '.join(DISK_BUSES)}")
    if bus == "virtio" and prefix != "vd":
        raise ValidationError(f"{opt}.bus", f"virtio disks need a vd* target, not {target!r}")
    cache = raw.get("cache") or "default"
    if cache not in DISK_CACHES:
        raise ValidationError(f"{opt}.cache", f"{cache!r} is not one of {', '.join(DISK_CACHES)}")
    disk = {
        "target": target,
        "bus": bus,
        "readonly": bool(raw.get("readonly")),
        "cache": cache,
        "_index": index,
    }
    if has_rbd:
        rbd = raw["rbd"]
        for key in ("pool", "image"):
            if not rbd.get(key):
                raise ValidationError(f"{opt}.rbd.{key}", "is required")
        hosts = []
        for j, host in enumerate(rbd.get("hosts") or []):
            match = _HOST_RE.match(str(host))
            if not match:
                raise ValidationError(f"{opt}.rbd.hosts[{j}]", f"{host!r} is not host or host:port")
            port = int(match.group(3)) if match.group(3) else 6789
            if not 0 < port < 65536:
                raise ValidationError(f"{opt}.rbd.hosts[{j}]", f"port {port} is out of range 1-65535")
            hosts.append(f"{match.group(1)}:{port}")
        secret_uuid = rbd.get("secret_uuid")
        if not secret_uuid and rbd.get("user"):
            # The secret libvirt_secret (and the libvirt role) keeps for this user by default.
            secret_uuid = default_secret_uuid(rbd["user"])
        disk["rbd"] = {
            "pool": rbd["pool"],
            "image": rbd["image"],
            "user": (rbd.get("user") or "admin") if secret_uuid else None,
            "secret_uuid": _uuid(secret_uuid, f"{opt}.rbd.secret_uuid") if secret_uuid else None,
            "hosts": hosts,
            "config": rbd.get("config") or None,
        }
        disk["path"] = None
        disk["format"] = "raw"
    else:
        path = str(raw["path"])
        if not path.startswith("/"):
            raise ValidationError(f"{opt}.path", f"{path!r} must be an absolute path")
        disk["rbd"] = None
        disk["path"] = path
        disk["format"] = raw.get("format") or "raw"
    return disk


def _nic(index, raw, domain, seen_keys):
    opt = f"nics[{index}]"
    bridge, ovn_port = raw.get("bridge"), raw.get("ovn_port")
    if not bridge and not ovn_port:
        raise ValidationError(opt, "one of bridge or ovn_port is required")
    if ovn_port and not bridge:
        bridge = "br-int"  # the integration bridge ovn-controller binds ports on
    vlan = raw.get("vlan")
    if vlan is not None:
        if ovn_port:
            raise ValidationError(f"{opt}.vlan", "cannot be set with ovn_port (OVN owns the port's tagging)")
        if not 1 <= int(vlan) <= 4094:
            raise ValidationError(f"{opt}.vlan", f"{vlan} is out of range 1-4094")
        vlan = int(vlan)
    model = raw.get("model") or "virtio"
    if model not in NIC_MODELS:
        raise ValidationError(f"{opt}.model", f"{model!r} is not one of {', '.join(NIC_MODELS)}")
    if raw.get("mac"):
        mac = normalise_mac(raw["mac"], f"{opt}.mac")
    else:
        # The NIC's identity: its OVN port, else its bridge and VLAN (numbered when repeated).
        base = f"ovn:{ovn_port}" if ovn_port else f"br:{bridge}:{vlan or 0}"
        seen_keys[base] = seen_keys.get(base, -1) + 1
        mac = derived_mac(domain, f"{base}:{seen_keys[base]}")
    return {
        "mac": mac,
        "bridge": bridge,
        "vlan": vlan,
        "ovn_port": ovn_port or None,
        "model": model,
        "_index": index,
    }


def build_spec(params):
    """Validate the module options and return the normalised desired spec (no engine needed)."""
    name = params.get("name")
    if not name or not _NAME_RE.match(name):
        raise ValidationError("name", f"{name!r} is not a domain name (letters, digits, _ . + -)")
    if params.get("state") == "absent":
        return {"name": name}
    vcpus = 1 if params.get("vcpus") is None else params["vcpus"]
    max_vcpus = vcpus if params.get("max_vcpus") is None else params["max_vcpus"]
    if vcpus < 1:
        raise ValidationError("vcpus", f"{vcpus} must be >= 1")
    if vcpus > max_vcpus:
        raise ValidationError("vcpus", f"{vcpus} must be <= max_vcpus ({max_vcpus})")
    memory = _kib(params.get("memory") or "512M", "memory")
    max_memory = _kib(params["max_memory"], "max_memory") if params.get("max_memory") else memory
    if memory > max_memory:
        raise ValidationError(
            "memory", f"{params.get('memory')} must be <= max_memory ({params.get('max_memory')})"
        )
    boot_raw = params.get("boot") or {}
    boot = {
        "dev": list(boot_raw.get("dev") or ["hd"]),
        "kernel": boot_raw.get("kernel") or None,
        "initrd": boot_raw.get("initrd") or None,
        "cmdline": boot_raw.get("cmdline") or None,
    }
    for dev in boot["dev"]:
        if dev not in BOOT_DEVICES:
            raise ValidationError("boot.dev", f"{dev!r} is not one of {', '.join(BOOT_DEVICES)}")
    for key in ("kernel", "initrd"):
        if boot[key] and not boot[key].startswith("/"):
            raise ValidationError(f"boot.{key}", f"{boot[key]!r} must be an absolute path")
    if (boot["initrd"] or boot["cmdline"]) and not boot["kernel"]:
        raise ValidationError("boot.kernel", "is required when initrd or cmdline is set")
    if boot["kernel"]:
        boot["dev"] = []  # direct kernel boot: no BIOS boot order
    disks, targets = [], {}
    for i, raw in enumerate(params.get("disks") or []):
        disk = _disk(i, raw)
        if disk["target"] in targets:
            raise ValidationError(
                f"disks[{i}].target",
                f"{disk['target']} is already the target of disks[{targets[disk['target']]}]; "
                "targets must be unique",
            )
        targets[disk["target"]] = i
        disks.append(disk)
    nics, macs, seen = [], {}, {}
    for i, raw in enumerate(params.get("nics") or []):
        nic = _nic(i, raw, name, seen)
        if nic["mac"] in macs:
            raise ValidationError(
                f"nics[{i}].mac",
                f"{nic['mac']} is already the MAC of nics[{macs[nic['mac']]}]; MACs must be unique",
            )
        macs[nic["mac"]] = i
        nics.append(nic)
    ovn_ports = [n["ovn_port"] for n in nics if n["ovn_port"]]
    for port in set(ovn_ports):
        if ovn_ports.count(port) > 1:
            raise ValidationError("nics", f"ovn_port {port} is used by two NICs; an OVN port binds once")
    return {
        "name": name,
        "virt_type": params.get("virt_type") or "auto",
        "vcpus": vcpus,
        "max_vcpus": max_vcpus,
        "memory": memory,
        "max_memory": max_memory,
        "machine": params.get("machine") or None,
        "cpu_mode": params.get("cpu_mode") or None,
        "boot": boot,
        "disks": sorted(disks, key=lambda d: d["target"]),
        "nics": sorted(nics, key=lambda n: n["mac"]),
    }


def public(spec):
    """The spec as the module returns it and shows in ``--diff``: sizes in units, no internals."""
    if not spec:
        return {}
    out = dict(spec)
    for key in ("memory", "max_memory"):
        if out.get(key) is not None:
            out[key] = format_size(out[key] * 1024)
    out["disks"] = [
        {k: v for k, v in d.items() if v is not None and not k.startswith("_")} for d in spec.get("disks", [])
    ]
    out["nics"] = [
        {k: v for k, v in n.items() if v is not None and not k.startswith("_")} for n in spec.get("nics", [])
    ]
    return {k: v for k, v in out.items() if v is not None}
