# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain XML <-> normalised spec.

:func:`parse` reads only the fields the spec manages from libvirt's XML and ignores what libvirt
fills in (PCI addresses, controllers, aliases, generated interface ids, the expanded CPU model).
:func:`edit` changes only those fields in an existing definition, so re-defining a domain keeps
everything else libvirt or an operator put there.
"""

from __future__ import annotations

import copy
import uuid as uuidlib
import xml.etree.ElementTree as ET  # noqa: S405 - libvirt's own XML, not untrusted input

_CACHE_DEFAULT = "default"
_IFACE_NAMESPACE = uuidlib.UUID("6b1f3c2e-2a2d-4f4e-9a59-5c10d5ac0003")
CONSOLE_LOG_DIR = "/var/log/libvirt/qemu"


def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = str(text)
    return el


# --- devices ------------------------------------------------------------------------------------


def disk_element(disk):
    """The ``<disk>`` element of one normalised disk."""
    if disk.get("rbd"):
        el = ET.Element("disk", {"type": "network", "device": "disk"})
    else:
        el = ET.Element("disk", {"type": "file", "device": "disk"})
    driver = {"name": "qemu", "type": disk.get("format") or "raw"}
    if disk.get("cache") and disk["cache"] != _CACHE_DEFAULT:
        driver["cache"] = disk["cache"]
    _sub(el, "driver", **driver)
    if disk.get("rbd"):
        rbd = disk["rbd"]
        source = _sub(el, "source", protocol="rbd", name=f"{rbd['pool']}/{rbd['image']}")
        for host in rbd.get("hosts") or []:
            name, port = host.rpartition(":")[::2]
            _sub(source, "host", name=name.strip("[]"), port=port)
        if rbd.get("config"):
            _sub(source, "config", file=rbd["config"])
        if rbd.get("secret_uuid"):
            auth = _sub(source, "auth", username=rbd.get("user") or "admin")
            _sub(auth, "secret", type="ceph", uuid=rbd["secret_uuid"])
    else:
        _sub(el, "source", file=disk["path"])
    _sub(el, "target", dev=disk["target"], bus=disk["bus"])
    if disk.get("readonly"):
        _sub(el, "readonly")
    return el


def nic_element(nic):
    """The ``<interface>`` element of one normalised NIC."""
    el = ET.Element("interface", {"type": "bridge"})
    _sub(el, "mac", address=nic["mac"])
    _sub(el, "source", bridge=nic["bridge"])
    if nic.get("_ovs", True):
        vport = _sub(el, "virtualport", type="openvswitch")
        if nic.get("ovn_port"):
            # OVN binds a logical port to the OVS interface whose external_ids:iface-id matches;
            # libvirt writes the interfaceid there, but only accepts a UUID. A port named by UUID is
            # carried by libvirt alone; any other name gets a UUID derived from it here and the
            # module sets iface-id to the name once the tap exists (see domain.py, "bind").
            _sub(vport, "parameters", interfaceid=interface_id(nic["ovn_port"]))
    if nic.get("vlan"):
        vlan = _sub(el, "vlan")
        _sub(vlan, "tag", id=nic["vlan"])
    _sub(el, "model", type=nic.get("model") or "virtio")
    return el


def is_uuid(value):
    try:
        return str(uuidlib.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def interface_id(ovn_port):
    """The libvirt interfaceid of an OVN port: the port itself when a UUID, else derived from it."""
    return ovn_port if is_uuid(ovn_port) else str(uuidlib.uuid5(_IFACE_NAMESPACE, ovn_port))


def to_string(el):
    return ET.tostring(el, encoding="unicode")


def _parse_disk(el):
    if el.get("device", "disk") != "disk":
        return None
    target = el.find("target")
    if target is None:
        return None
    driver = el.find("driver")
    source = el.find("source")
    disk = {
        "target": target.get("dev"),
        "bus": target.get("bus"),
        "readonly": el.find("readonly") is not None,
        "cache": (driver.get("cache") if driver is not None else None) or _CACHE_DEFAULT,
        "format": (driver.get("type") if driver is not None else None) or "raw",
        "rbd": None,
        "path": None,
    }
    if el.get("type") == "network" and source is not None and source.get("protocol") == "rbd":
        pool, image = (source.get("name") or "").partition("/")[::2]
        auth = source.find("auth")
        if auth is None:
            auth = el.find("auth")  # the older place of <auth>, still accepted by libvirt
        secret = auth.find("secret") if auth is not None else None
        config = source.find("config")
        disk["rbd"] = {
            "pool": pool,
            "image": image,
            "user": auth.get("username") if auth is not None else None,
            "secret_uuid": secret.get("uuid") if secret is not None else None,
            "hosts": [
                f"{h.get('name')}:{h.get('port') or 6789}"
                if ":" not in (h.get("name") or "")
                else f"[{h.get('name')}]:{h.get('port') or 6789}"
                for h in source.findall("host")
            ],
            "config": config.get("file") if config is not None else None,
        }
    elif source is not None:
        disk["path"] = source.get("file") or source.get("dev")
    return disk


def _parse_nic(el):
    mac = el.find("mac")
    source = el.find("source")
    vport = el.find("virtualport")
    model = el.find("model")
    params = vport.find("parameters") if vport is not None else None
    tags = el.findall("vlan/tag")
    is_ovs = vport is not None and vport.get("type") == "openvswitch"
    return {
        "mac": (mac.get("address") or "").lower() if mac is not None else None,
        "bridge": source.get("bridge") if source is not None else None,
        "vlan": int(tags[0].get("id")) if len(tags) == 1 else None,
        # libvirt invents an interfaceid for every OVS port; it is only ours when it names an OVN port.
        "ovn_port": None,
        "model": model.get("type") if model is not None else None,
        "_ovs": is_ovs,
        "_interfaceid": params.get("interfaceid") if params is not None else None,
        "_tap": el.find("target").get("dev") if el.find("target") is not None else None,
    }


# --- whole domain -------------------------------------------------------------------------------


def parse(xml, ovn_ports=()):
    """The normalised spec of a domain XML (managed fields only).

    ``ovn_ports`` are the OVN port names the caller manages: an interfaceid equal to one of them is
    read back as that NIC's ``ovn_port``.
    """
    root = ET.fromstring(xml)  # noqa: S314 - XML from libvirt
    vcpu = root.find("vcpu")
    max_vcpus = int(vcpu.text) if vcpu is not None else 1
    memory = root.find("memory")
    current = root.find("currentMemory")
    os_el = root.find("os")
    os_type = os_el.find("type") if os_el is not None else None
    cpu = root.find("cpu")
    boot = _parse_boot(os_el)
    disks = [d for d in (_parse_disk(e) for e in root.findall("devices/disk")) if d]
    nics = [_parse_nic(e) for e in root.findall("devices/interface")]
    by_iface = {interface_id(p): p for p in ovn_ports}
    for nic in nics:
        if nic["_interfaceid"] and nic["_interfaceid"] in by_iface:
            nic["ovn_port"] = by_iface[nic["_interfaceid"]]
    max_memory = _kib(memory)
    return {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "virt_type": root.get("type"),
        "vcpus": int(vcpu.get("current", max_vcpus)) if vcpu is not None else 1,
        "max_vcpus": max_vcpus,
        "memory": _kib(current) if current is not None else max_memory,
        "max_memory": max_memory,
        "machine": os_type.get("machine") if os_type is not None else None,
        "cpu_mode": cpu.get("mode") if cpu is not None else None,
        "acpi": root.find("features/acpi") is not None,
        "boot": boot,
        "disks": sorted(disks, key=lambda d: d["target"]),
        "nics": sorted((n for n in nics if n["mac"]), key=lambda n: n["mac"]),
    }


_UNIT_KIB = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "k": 1,
    "kib": 1,
    "m": 1024,
    "mib": 1024,
    "g": 1024**2,
    "gib": 1024**2,
    "kb": 1000 / 1024,
    "mb": 1000**2 / 1024,
}


def _kib(el):
    if el is None or el.text is None:
        return None
    return int(int(el.text) * _UNIT_KIB.get((el.get("unit") or "KiB").lower(), 1))


def _text(parent, tag):
    if parent is None:
        return None
    el = parent.find(tag)
    return el.text if el is not None and el.text else None


def comparable(spec, managed):
    """The part of a parsed spec that ``managed`` (a desired spec) manages, for comparison."""
    out = {}
    for key in ("virt_type", "vcpus", "max_vcpus", "memory", "max_memory", "machine", "cpu_mode", "boot"):
        if managed.get(key) is not None:
            out[key] = spec.get(key)
    out["disks"] = [comparable_disk(d) for d in spec.get("disks", [])]
    out["nics"] = [comparable_nic(n) for n in spec.get("nics", [])]
    return out


def comparable_disk(disk):
    return {k: v for k, v in disk.items() if not k.startswith("_")}


def comparable_nic(nic):
    return {k: v for k, v in nic.items() if k not in ("_interfaceid", "_index", "_tap")}


def new_domain_xml(spec, uuid):
    """A complete definition for a domain that does not exist yet."""
    root = ET.Element("domain", {"type": spec["virt_type"]})
    _sub(root, "name", spec["name"])
    _sub(root, "uuid", uuid)
    _sub(root, "memory", spec["max_memory"], unit="KiB")
    _sub(root, "currentMemory", spec["memory"], unit="KiB")
    _vcpu(_sub(root, "vcpu"), spec)
    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=spec.get("machine"))
    _boot(os_el, spec["boot"])
    features = _sub(root, "features")
    _sub(features, "acpi")  # disk and NIC hot-plug go through ACPI
    _sub(features, "apic")
    if spec.get("cpu_mode"):
        _sub(root, "cpu", mode=spec["cpu_mode"])
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")
    devices = _sub(root, "devices")
    for disk in spec["disks"]:
        devices.append(disk_element(disk))
    for nic in spec["nics"]:
        devices.append(nic_element(nic))
    serial = _sub(devices, "serial", type="pty")
    # The guest console is kept in a file too (through virtlogd): what operators read after a failure.
    _sub(serial, "log", file=f"{CONSOLE_LOG_DIR}/{spec['name']}-console.log", append="on")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    return to_string(root)


def _vcpu(el, spec):
    el.text = str(spec["max_vcpus"])
    el.attrib.pop("current", None)
    if spec["vcpus"] != spec["max_vcpus"]:
        el.set("current", str(spec["vcpus"]))


def _boot(os_el, boot):
    for tag in ("boot", "kernel", "initrd", "cmdline"):
        for el in os_el.findall(tag):
            os_el.remove(el)
    for key in ("kernel", "initrd", "cmdline"):
        if boot.get(key):
            _sub(os_el, key, boot[key])
    for dev in boot.get("dev") or []:
        _sub(os_el, "boot", dev=dev)


def edit(xml, spec):
    """``xml`` (a persistent definition) with the managed fields set from ``spec``."""
    root = ET.fromstring(xml)  # noqa: S314 - XML from libvirt
    root.set("type", spec["virt_type"])
    for tag in ("memory", "currentMemory"):
        el = root.find(tag)
        if el is None:
            el = _sub(root, tag)
        el.text = str(spec["max_memory"] if tag == "memory" else spec["memory"])
        el.set("unit", "KiB")
    vcpu = root.find("vcpu")
    if vcpu is None:
        vcpu = _sub(root, "vcpu")
    _vcpu(vcpu, spec)
    os_el = root.find("os")
    if spec.get("machine"):
        os_el.find("type").set("machine", spec["machine"])
    _boot_in_place(os_el, spec["boot"])
    features = root.find("features")
    if features is None:
        features = _sub(root, "features")
    if features.find("acpi") is None:
        _sub(features, "acpi")
    if spec.get("cpu_mode"):
        cpu = root.find("cpu")
        if cpu is None or cpu.get("mode") != spec["cpu_mode"]:
            if cpu is not None:
                root.remove(cpu)
            _sub(root, "cpu", mode=spec["cpu_mode"])
    devices = root.find("devices")
    _edit_devices(devices, "disk", spec["disks"], _disk_key, disk_element, _parse_disk)
    _edit_devices(devices, "interface", spec["nics"], _nic_key, nic_element, _parse_nic)
    return to_string(root)


def _parse_boot(os_el):
    boot = {
        "dev": [b.get("dev") for b in os_el.findall("boot")] if os_el is not None else [],
        "kernel": _text(os_el, "kernel"),
        "initrd": _text(os_el, "initrd"),
        "cmdline": _text(os_el, "cmdline"),
    }
    if boot["kernel"]:
        boot["dev"] = []  # libvirt adds <boot dev='hd'/> even for direct kernel boot; QEMU ignores it
    return boot


def _boot_in_place(os_el, boot):
    if _parse_boot(os_el) != boot:
        _boot(os_el, boot)


def _disk_key(el):
    target = el.find("target")
    return target.get("dev") if el.get("device", "disk") == "disk" and target is not None else None


def _nic_key(el):
    mac = el.find("mac")
    return (mac.get("address") or "").lower() if mac is not None else None


def _edit_devices(devices, tag, wanted, key_of, build, parse_one):
    """Remove devices not wanted, replace changed ones (keeping their address), add new ones."""
    wanted_by_key = {(w.get("target") or w.get("mac")): w for w in wanted}
    existing = {}
    for el in list(devices.findall(tag)):
        key = key_of(el)
        if key is None:
            continue  # cdroms, floppies, interfaces without MAC: not ours
        if key not in wanted_by_key:
            devices.remove(el)
            continue
        existing[key] = el
    for key, want in wanted_by_key.items():
        el = existing.get(key)
        new = build(want)
        if el is not None:
            have = parse_one(el)
            if tag == "interface":
                wanted_iface = interface_id(want["ovn_port"]) if want.get("ovn_port") else None
                have["ovn_port"] = want["ovn_port"] if have["_interfaceid"] == wanted_iface else None
                same = comparable_nic(have) == comparable_nic({**want, "_ovs": want.get("_ovs", True)})
            else:
                same = comparable_disk(have) == comparable_disk(want)
            if same:
                continue
            address = el.find("address")
            if address is not None:
                new.append(copy.deepcopy(address))
            index = list(devices).index(el)
            devices.remove(el)
            devices.insert(index, new)
        else:
            devices.append(new)
