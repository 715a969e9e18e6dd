# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``libvirt_domain``: read the domain, plan the changes in spec terms, apply them (or not, in check mode).

The plan is the same code in check mode and in a real run, so check mode predicts the exact list of
``actions``. Order of a real run: live detach, live attach, live vCPU/memory, persistent definition,
live block resize, autostart, state (start/stop/restart).
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET  # noqa: S405 - libvirt's own XML

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    ValidationError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation
from ansible_collections.scloud.stack.plugins.module_utils._common.units import format_size
from ansible_collections.scloud.stack.plugins.module_utils._libvirt import domxml
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import libvirt
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.rbd_disks import RbdImages
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.spec import (
    build_spec,
    domain_uuid,
    public,
)

_RESIZE_BYTES = 1  # VIR_DOMAIN_BLOCK_RESIZE_BYTES
SB_READ_ATTEMPTS = 3  # reads of the Southbound's Port_Binding before a run gives up
HOTPLUG_TIMEOUT = 30  # seconds a guest gets to release a detached device (ACPI eject)
# Fields a running domain cannot take without a restart (vCPUs and memory only above the maxima).
_RESTART_FIELDS = ("virt_type", "machine", "cpu_mode", "boot", "max_vcpus", "max_memory")


def state_name(dom):
    st = dom.state()[0]
    if st == libvirt.VIR_DOMAIN_PAUSED:
        return "paused"
    if st in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
        return "running"
    if st == libvirt.VIR_DOMAIN_PMSUSPENDED:
        return "pmsuspended"
    return "shutoff" if not dom.isActive() else "running"


def lookup(conn, name):
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise EngineError(f"name: cannot look up domain {name}: {exc}") from exc


class Host:
    """What the engine-side validation needs to know about the hypervisor host, read once."""

    def __init__(self, conn):
        self.conn = conn
        caps = ET.fromstring(conn.getCapabilities())  # noqa: S314 - from libvirt
        self.domain_types = set()
        self.machines = {}
        for guest in caps.findall("guest"):
            arch = guest.find("arch")
            if arch is None or arch.get("name") != "x86_64" or guest.findtext("os_type") != "hvm":
                continue
            self.domain_types.update(d.get("type") for d in arch.findall("domain"))
            for machine in arch.findall("machine"):
                self.machines[machine.text] = machine.get("canonical") or machine.text
        info = conn.getInfo()
        self.memory_kib = info[1] * 1024
        self.cpus = info[2]

    def virt_type(self, requested):
        if requested == "auto":
            return "kvm" if "kvm" in self.domain_types else "qemu"
        if requested not in self.domain_types:
            raise ValidationError(
                "virt_type",
                f"{requested} is not usable on this host (it offers "
                f"{', '.join(sorted(self.domain_types)) or 'none'}); use auto",
            )
        return requested

    def machine(self, requested):
        if requested is None:
            return None
        if requested not in self.machines:
            known = sorted(k for k in self.machines if "-" not in k)
            raise ValidationError(
                "machine",
                f"{requested} is not a machine type of this host's QEMU (for example {', '.join(known[:8])})",
            )
        return self.machines[requested]


class DomainTask:
    """One ``libvirt_domain`` task: plan the changes of one domain, then apply them (or, in check
    mode, stop after the plan)."""

    def __init__(self, params, check_mode=False, run_command=None):
        self.params = params
        self.check_mode = check_mode
        self.run_command = run_command
        self.actions = []
        self.done = []
        self.default_machine = None
        self.conn = None
        self.rbd = None

    # --- engine-side validation (before anything is touched) ---------------------------------------

    def _validate(self, desired):
        host = Host(self.conn)
        desired["virt_type"] = host.virt_type(desired["virt_type"])
        desired["machine"] = host.machine(desired["machine"])
        self.default_machine = host.machines.get("pc")
        host_mem = format_size(host.memory_kib * 1024)
        if desired["memory"] > host.memory_kib:
            raise ValidationError(
                "memory", f"{self.params['memory']} is above the host's memory ({host_mem})"
            )
        if desired["max_memory"] > host.memory_kib:
            raise ValidationError(
                "max_memory", f"{self.params['max_memory']} is above the host's memory ({host_mem})"
            )
        try:
            limit = self.conn.getMaxVcpus(desired["virt_type"])
        except libvirt.libvirtError:
            limit = None
        if limit and desired["max_vcpus"] > limit:
            raise ValidationError(
                "max_vcpus", f"{desired['max_vcpus']} is above the {desired['virt_type']} limit of {limit}"
            )
        self._validate_nics(desired["nics"])
        for disk in desired["disks"]:
            if disk["rbd"]:
                disk["_size"] = self.rbd.size(disk, f"disks[{disk['_index']}]")
            elif not os.path.exists(disk["path"]):
                raise ValidationError(f"disks[{disk['_index']}].path", f"{disk['path']} does not exist")

    def _ovs(self, *args):
        rc, out, err = self.run_command(["ovs-vsctl", "--timeout=10", *args])
        return rc, out.strip(), err.strip()

    def _validate_nics(self, nics):
        if not nics:
            return
        rc, out, _err = self._ovs("list-br")
        ovs_bridges = set(out.split()) if rc == 0 else set()
        for nic in nics:
            opt = f"nics[{nic['_index']}]"
            if nic["bridge"] in ovs_bridges:
                nic["_ovs"] = True
            elif os.path.isdir(f"/sys/class/net/{nic['bridge']}/bridge"):
                nic["_ovs"] = False
                if nic["vlan"]:
                    raise ValidationError(
                        f"{opt}.vlan", f"needs an Open vSwitch bridge; {nic['bridge']} is a Linux bridge"
                    )
                if nic["ovn_port"]:
                    raise ValidationError(
                        f"{opt}.bridge",
                        f"{nic['bridge']} is a Linux bridge; OVN ports "
                        "need the Open vSwitch integration bridge",
                    )
            else:
                raise ValidationError(
                    f"{opt}.bridge",
                    f"bridge {nic['bridge']} does not exist (neither an "
                    "Open vSwitch nor a Linux bridge on this host)",
                )
        wanted = {n["ovn_port"]: n for n in nics if n["ovn_port"]}
        if not wanted:
            return
        rc, remote, err = self._ovs("--if-exists", "get", "Open_vSwitch", ".", "external_ids:ovn-remote")
        remote = remote.strip('"')
        first = f"nics[{min(n['_index'] for n in wanted.values())}].ovn_port"
        if rc != 0 or not remote:
            raise ValidationError(
                first,
                "cannot check OVN ports: Open vSwitch on this host has no "
                "external_ids:ovn-remote (is ovn-controller configured?)",
            )
        # Any server of the RAFT cluster will do for this read (no leader hunt), and a busy cluster
        # gets three tries before the run fails.
        for attempt in range(SB_READ_ATTEMPTS):
            rc, out, err = self.run_command(
                [
                    "ovn-sbctl",
                    f"--db={remote}",
                    "--no-leader-only",
                    "--timeout=10",
                    "--bare",
                    "--columns=logical_port",
                    "list",
                    "Port_Binding",
                ]
            )
            if rc == 0:
                break
            if attempt + 1 < SB_READ_ATTEMPTS:
                time.sleep(2)
        if rc != 0:
            raise EngineError(
                f"{first}: cannot read the OVN southbound database {remote} ({SB_READ_ATTEMPTS} tries): {err}"
            )
        known = set(out.split())
        for port, nic in sorted(wanted.items()):
            if port not in known:
                raise ValidationError(
                    f"nics[{nic['_index']}].ovn_port",
                    f"OVN port {port} does not exist (no Port_Binding in {remote})",
                )

    # --- entry point -------------------------------------------------------------------------------

    def run(self, conn, desired):
        """Converge the domain to ``desired`` (:func:`build_spec` of the options) over ``conn``."""
        self.conn = conn
        self.rbd = RbdImages(conn)
        try:
            dom = lookup(self.conn, desired["name"])
            if self.params["state"] == "absent":
                return self._absent(dom)
            self._validate(desired)
            if dom is None:
                return self._create(desired)
            return self._update(dom, desired)
        except libvirt.libvirtError as exc:
            raise EngineError(f"libvirt: {exc}{self._done_note()}", actions_done=self.done) from exc
        finally:
            self.rbd.close()

    def _done_note(self):
        return f" (already done: {', '.join(self.done)})" if self.done else " (nothing was changed)"

    def _do(self, name, func, *args):
        func(*args)
        self.done.append(name)

    def _ovn_ports(self, desired):
        return {n["ovn_port"] for n in desired.get("nics", []) if n.get("ovn_port")}

    def _result(self, dom, desired, before, restart_required=False, pending=()):
        changed = bool(self.actions)
        if dom is not None and not self.check_mode:
            spec = domxml.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), self._ovn_ports(desired))
            after = self._public(spec, state_name(dom), bool(dom.autostart()))
        else:
            after = self._predicted_after
        return {
            "changed": changed,
            "actions": self.actions,
            "domain": after,
            "restart_required": restart_required,
            "restart_pending": list(pending),
            "diff": make_diff(before, after),
        }

    def _public(self, spec, state, autostart):
        if spec is None:
            return {}
        out = public({k: v for k, v in spec.items() if k != "acpi"})
        if not self.params.get("cpu_mode"):
            out.pop("cpu_mode", None)  # not managed: libvirt's expansion would only be noise
        out["state"] = state
        out["autostart"] = autostart
        return out

    # --- absent ----------------------------------------------------------------------------------

    def _absent(self, dom):
        if dom is None:
            self._predicted_after = {}
            return self._result(None, {}, {})
        spec = domxml.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        before = self._public(spec, state_name(dom), bool(dom.autostart()))
        if dom.isActive():
            self.actions.append("destroy")
        self.actions.append("undefine")
        removals = []
        if self.params.get("delete_disks"):
            for disk in spec["disks"]:
                opt = f"disks[{disk['target']}]"
                if disk["rbd"]:
                    self.rbd.size(disk, opt)  # exists and reachable, before anything is destroyed
                    removals.append(disk)
                    self.actions.append(f"delete rbd {disk['rbd']['pool']}/{disk['rbd']['image']}")
                elif disk["path"] and os.path.exists(disk["path"]):
                    removals.append(disk)
                    self.actions.append(f"delete file {disk['path']}")
        self._predicted_after = {}
        if not self.check_mode:
            if dom.isActive():
                dom.destroy()
            flags = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            dom.undefineFlags(flags)
            for disk in removals:
                if disk["rbd"]:
                    self.rbd.remove(disk, f"disks[{disk['target']}]")
                else:
                    os.unlink(disk["path"])
        return self._result(None, {}, before)

    # --- create ----------------------------------------------------------------------------------

    def _create(self, desired):
        uuid = domain_uuid(desired["name"])
        # The machine libvirt would pick anyway, written down so check mode predicts it.
        xml = domxml.new_domain_xml(dict(desired, machine=desired["machine"] or self.default_machine), uuid)
        state = self.params["state"]
        autostart = bool(self.params.get("autostart"))
        self.actions.append("define")
        if autostart:
            self.actions.append("autostart on")
        if state == "running":
            self.actions.append("start")
        elif state == "paused":
            self.actions.append("start paused")
        binds = self._plan_binds(None, desired, None, started=state in ("running", "paused"))
        spec = domxml.parse(xml, self._ovn_ports(desired))
        self._predicted_after = self._public(spec, state, autostart)
        dom = None
        if not self.check_mode:
            dom = self.conn.defineXML(xml)
            self.done.append("define")
            if autostart:
                self._do("autostart on", dom.setAutostart, 1)
            if state == "running":
                self._do("start", dom.create)
            elif state == "paused":
                self._do("start paused", dom.createWithFlags, libvirt.VIR_DOMAIN_START_PAUSED)
            self._bind(dom, binds)
        return self._result(dom, desired, {})

    # --- update ----------------------------------------------------------------------------------

    def _update(self, dom, desired):
        ovn_ports = self._ovn_ports(desired)
        config_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        config = domxml.parse(config_xml, ovn_ports)
        state = state_name(dom)
        autostart = bool(dom.autostart())
        before = self._public(config, state, autostart)
        new_xml = domxml.edit(config_xml, desired)
        new_config = domxml.parse(new_xml, ovn_ports)
        redefine = (
            domxml.comparable(config, desired) != domxml.comparable(new_config, desired) or not config["acpi"]
        )
        # A domain about to be stopped gets no live changes: its definition is all that matters.
        active = dom.isActive() and self.params["state"] != "shutoff"
        live_ops, live_after = [], None
        if active:
            live = domxml.parse(dom.XMLDesc(0), ovn_ports)
            live_ops, live_after = self._plan_live(dom, live, config, desired)
        self.actions.extend(op[0] for op in live_ops)
        if redefine:
            old, new = domxml.comparable(config, desired), domxml.comparable(new_config, desired)
            changed = [
                k
                for k in (
                    "virt_type",
                    "vcpus",
                    "max_vcpus",
                    "memory",
                    "max_memory",
                    "machine",
                    "cpu_mode",
                    "boot",
                    "disks",
                    "nics",
                )
                if old.get(k) != new.get(k)
            ]
            self.actions.append("redefine " + ",".join(changed or ["acpi"]))
        resizes = self._plan_resize(dom, live_after, desired) if active else []
        self.actions.extend(op[0] for op in resizes)
        pending = self._pending(live_after, new_config, desired) if active else []
        want_autostart = self.params.get("autostart")
        if want_autostart is not None and bool(want_autostart) != autostart:
            self.actions.append("autostart " + ("on" if want_autostart else "off"))
            autostart = bool(want_autostart)
        target_state = self.params["state"]
        state_ops = self._plan_state(state, target_state, bool(pending))
        self.actions.extend(state_ops)
        restarted = "restart" in state_ops
        binds = []
        if target_state in ("running", "paused"):
            started = bool({"start", "start paused", "restart"} & set(state_ops))
            attached = {a.split()[-1] for a in self.actions if a.startswith("attach nic")}
            binds = self._plan_binds(live_after if active else None, desired, attached, started)
        restart_required = bool(pending) and not restarted and target_state != "shutoff"
        self._predicted_after = self._public(new_config, target_state, autostart)
        if self.check_mode:
            return self._result(dom, desired, before, restart_required, [] if restarted else pending)
        for name, func in live_ops:
            self._do(name, func)
        if redefine:
            self._do([a for a in self.actions if a.startswith("redefine")][0], self.conn.defineXML, new_xml)
        for name, func in resizes:
            self._do(name, func)
        if want_autostart is not None and bool(dom.autostart()) != bool(want_autostart):
            self._do("autostart", dom.setAutostart, 1 if want_autostart else 0)
        self._apply_state(dom, state_ops, target_state)
        self._bind(dom, binds)
        if dom.isActive():
            live = domxml.parse(dom.XMLDesc(0), ovn_ports)
            config = domxml.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), ovn_ports)
            pending = self._pending(live, config, desired)
        else:
            pending = []
        return self._result(dom, desired, before, bool(pending), pending)

    def _plan_live(self, dom, live, config, desired):
        """Hot-plug operations for a running domain, and the live spec they lead to."""
        ops = []
        after = {**live, "disks": list(live["disks"]), "nics": list(live["nics"])}
        live_disks = {d["target"]: d for d in live["disks"]}
        want_disks = {d["target"]: d for d in desired["disks"]}
        live_nics = {n["mac"]: n for n in live["nics"]}
        want_nics = {n["mac"]: n for n in desired["nics"]}
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE
        for target in sorted(set(live_disks) - set(want_disks)):
            xml = self._live_device_xml(dom, "disk", target)
            ops.append((f"detach disk {target}", self._detacher(dom, xml, "disk", target)))
            after["disks"] = [d for d in after["disks"] if d["target"] != target]
        for mac in sorted(set(live_nics) - set(want_nics)):
            xml = self._live_device_xml(dom, "interface", mac)
            ops.append((f"detach nic {mac}", self._detacher(dom, xml, "interface", mac)))
            after["nics"] = [n for n in after["nics"] if n["mac"] != mac]
        for target in sorted(set(want_disks) - set(live_disks)):
            xml = domxml.to_string(domxml.disk_element(want_disks[target]))
            ops.append((f"attach disk {target}", lambda x=xml: dom.attachDeviceFlags(x, flags)))
            after["disks"] = sorted(after["disks"] + [want_disks[target]], key=lambda d: d["target"])
        for mac in sorted(set(want_nics) - set(live_nics)):
            xml = domxml.to_string(domxml.nic_element(want_nics[mac]))
            ops.append((f"attach nic {mac}", lambda x=xml: dom.attachDeviceFlags(x, flags)))
            after["nics"] = sorted(after["nics"] + [want_nics[mac]], key=lambda n: n["mac"])
        if live["vcpus"] < desired["vcpus"] <= live["max_vcpus"]:
            n = desired["vcpus"]
            ops.append((f"set vcpus {n}", lambda: dom.setVcpusFlags(n, flags)))
            after["vcpus"] = n
        if config["memory"] != desired["memory"] and desired["memory"] <= live["max_memory"]:
            kib = desired["memory"]
            ops.append((f"set memory {format_size(kib * 1024)}", lambda: dom.setMemoryFlags(kib, flags)))
            after["memory"] = kib
        return ops, after

    def _plan_binds(self, live, desired, attached, started):
        """OVN ports not named by a UUID: set the tap's iface-id to the port name (libvirt cannot)."""
        binds = []
        taps = {n["mac"]: n.get("_tap") for n in (live or {}).get("nics", [])}
        for nic in desired["nics"]:
            port = nic.get("ovn_port")
            if not port or domxml.is_uuid(port):
                continue
            if not started and live is not None and nic["mac"] not in (attached or ()):
                tap = taps.get(nic["mac"])
                rc, out, _err = self._ovs(
                    "--if-exists", "get", "Interface", tap or "-", "external_ids:iface-id"
                )
                if tap and rc == 0 and out.strip('"') == port:
                    continue
            binds.append((nic["mac"], port))
        for mac, port in binds:
            self.actions.append(f"bind nic {mac} to ovn port {port}")
        return binds

    def _bind(self, dom, binds):
        if not binds or not dom.isActive():
            return
        taps = {n["mac"]: n.get("_tap") for n in domxml.parse(dom.XMLDesc(0))["nics"]}
        for mac, port in binds:
            tap = taps.get(mac)
            if not tap:
                raise EngineError(f"nic {mac}: no tap device to bind to OVN port {port}{self._done_note()}")
            rc, _out, err = self._ovs("set", "Interface", tap, f"external_ids:iface-id={port}")
            if rc != 0:
                raise EngineError(f"nic {mac}: cannot set iface-id {port} on {tap}: {err}{self._done_note()}")
            self.done.append(f"bind nic {mac} to ovn port {port}")

    def _plan_resize(self, dom, live_after, desired):
        ops = []
        live_targets = {d["target"] for d in live_after["disks"]}
        attached_now = {a.split()[-1] for a in self.actions if a.startswith("attach disk")}
        for disk in desired["disks"]:
            target = disk["target"]
            if not disk["rbd"] or target not in live_targets or target in attached_now:
                continue
            capacity = dom.blockInfo(target)[0]
            size = disk["_size"]
            if size > capacity:
                ops.append(
                    (
                        f"resize disk {target} {format_size(capacity)} -> {format_size(size)}",
                        lambda t=target, s=size: dom.blockResize(t, s, _RESIZE_BYTES),
                    )
                )
        return ops

    def _pending(self, live, config, desired):
        """Managed fields where the running domain differs from its definition (need a restart)."""
        if live is None:
            return []
        a, b = domxml.comparable(live, desired), domxml.comparable(config, desired)
        # The balloon's actual size depends on the guest: memory is applied live, never pending.
        a.pop("memory", None)
        b.pop("memory", None)
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))

    def _plan_state(self, current, target, pending):
        allow_restart = self.params.get("allow_restart")
        if target == "running":
            if current == "shutoff":
                return ["start"]
            ops = ["restart"] if pending and allow_restart else []
            if current == "paused":
                ops.append("resume")
            return ops
        if target == "paused":
            if current == "shutoff":
                return ["start paused"]
            if pending and allow_restart:
                return ["restart", "suspend"]
            return ["suspend"] if current == "running" else []
        if target == "shutoff":
            return [] if current == "shutoff" else ["shutdown"]
        return []

    def _apply_state(self, dom, ops, target):
        for op in ops:
            self._state_op(dom, op)
            self.done.append(op)

    def _state_op(self, dom, op):
        if op == "start":
            dom.create()
        elif op == "start paused":
            dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        elif op == "resume":
            dom.resume()
        elif op == "suspend":
            dom.suspend()
        elif op == "shutdown":
            self._stop(dom)
        elif op == "restart":
            self._stop(dom)
            dom.create()

    def _stop(self, dom):
        timeout = self.params.get("shutdown_timeout") or 0
        if timeout > 0 and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
            try:
                dom.shutdown()
            except libvirt.libvirtError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and dom.isActive():
                time.sleep(0.5)
        if dom.isActive():
            dom.destroy()

    # --- hot-plug helpers ------------------------------------------------------------------------

    def _live_device_xml(self, dom, tag, key):
        root = ET.fromstring(dom.XMLDesc(0))  # noqa: S314 - from libvirt
        for el in root.findall(f"devices/{tag}"):
            if tag == "disk" and el.find("target") is not None and el.find("target").get("dev") == key:
                return ET.tostring(el, encoding="unicode")
            if tag == "interface" and el.find("mac") is not None and el.find("mac").get("address") == key:
                return ET.tostring(el, encoding="unicode")
        raise EngineError(f"{tag} {key} vanished from the running domain")

    def _detacher(self, dom, xml, tag, key):
        def detach():
            dom.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            deadline = time.monotonic() + HOTPLUG_TIMEOUT
            while time.monotonic() < deadline:
                live = domxml.parse(dom.XMLDesc(0))
                devices = live["disks"] if tag == "disk" else live["nics"]
                if key not in [d.get("target") or d.get("mac") for d in devices]:
                    return
                time.sleep(0.2)
            raise EngineError(
                f"{'disk' if tag == 'disk' else 'nic'} {key}: the guest did not release the "
                f"device within {HOTPLUG_TIMEOUT}s (does it run an OS that answers ACPI "
                f"hot-plug?); the detach stays requested{self._done_note()}",
                actions_done=self.done,
            )

        return detach


class DomainOperation(Operation):
    """``libvirt_domain`` for the runner: the options become the desired spec once, in ``validate``
    (bad input fails before the connection), then one :class:`DomainTask` converges it."""

    def __init__(self):
        super().__init__()
        self.desired = None

    def validate(self, params):
        self.desired = build_spec(params)

    def converge(self, session, params, check_mode):
        task = DomainTask(params, check_mode=check_mode, run_command=session.run_command)
        return task.run(session.conn, self.desired)
