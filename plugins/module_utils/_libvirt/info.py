# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``libvirt_domain_info``: domains in spec terms and the host's capacity, for scheduling."""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._common.units import format_size
from ansible_collections.scloud.stack.plugins.module_utils._libvirt import domxml
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import libvirt
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.domain import state_name
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.spec import public


def describe(dom):
    active = dom.isActive()
    # The running domain as it is now; its persistent definition when it is off.
    flags = 0 if active else libvirt.VIR_DOMAIN_XML_INACTIVE
    spec = domxml.parse(dom.XMLDesc(flags))
    for nic in spec["nics"]:
        nic["interfaceid"] = nic.get("_interfaceid")
    out = public({k: v for k, v in spec.items() if k != "acpi"})
    out["state"] = state_name(dom)
    out["autostart"] = bool(dom.autostart())
    out["persistent"] = bool(dom.isPersistent())
    out["memory_bytes"] = spec["memory"] * 1024
    out["max_memory_bytes"] = spec["max_memory"] * 1024
    return out


def _gone(exc):
    return exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def _read_each(doms, read):
    """``read(dom)`` of every domain that still exists: another task on this host may undefine or
    stop one between the list and the read (libvirt then answers "no domain with matching uuid")."""
    out = []
    for dom in doms:
        try:
            out.append(read(dom))
        except libvirt.libvirtError as exc:
            if not _gone(exc):
                raise
    return out


def host_capacity(conn):
    info = conn.getInfo()
    free = conn.getFreeMemory()
    running = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    vcpus = _read_each(running, lambda d: d.info()[3])
    used_vcpus = sum(vcpus)
    return {
        "hostname": conn.getHostname(),
        "cpus": info[2],
        "memory_bytes": info[1] * 1024**2,
        "memory": format_size(info[1] * 1024**2),
        "free_memory_bytes": free,
        "free_memory": format_size(free - free % 1024**2),
        "running_domains": len(vcpus),
        "allocated_vcpus": used_vcpus,
    }


def converge(session, params, _check_mode):
    """``libvirt_domain_info`` reads only: the same in check mode, never changed."""
    conn = session.conn
    if params.get("name"):
        try:
            doms = [conn.lookupByName(params["name"])]
        except libvirt.libvirtError as exc:
            if not _gone(exc):
                raise
            doms = []
    else:
        doms = conn.listAllDomains()
    domains = sorted(_read_each(doms, describe), key=lambda d: d["name"])
    return {"changed": False, "domains": domains, "host": host_capacity(conn)}
