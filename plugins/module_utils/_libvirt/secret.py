# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``libvirt_secret``: a Ceph key as a libvirt secret, so QEMU can open RBD disks with it.

The secret is found by ``uuid`` when given, else by its usage (``ceph`` + ``usage_name``). A new
secret without ``uuid`` gets one derived from the usage name, so check mode can predict it. The
value is compared, never returned.
"""

from __future__ import annotations

import base64
import binascii
import uuid as uuidlib
import xml.etree.ElementTree as ET  # noqa: S405 - libvirt's own XML

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import (
    EngineError,
    ValidationError,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.connection import libvirt
from ansible_collections.scloud.stack.plugins.module_utils._libvirt.spec import secret_uuid


def validate_params(params):
    """Checks of the options; returns the decoded value (``None`` without one)."""
    if not params.get("usage_name"):
        raise ValidationError("usage_name", "is required (for Ceph: a name such as client.libvirt secret)")
    if params.get("uuid"):
        try:
            params["uuid"] = str(uuidlib.UUID(params["uuid"]))
        except ValueError:
            raise ValidationError("uuid", f"{params['uuid']!r} is not a UUID") from None
    value = params.get("value")
    if params["state"] == "present" and value is None:
        raise ValidationError("value", "is required with state=present")
    if value is not None:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(
                "value", "must be base64 (a Ceph key as `ceph auth get-key` prints it)"
            ) from None
        if not raw:
            raise ValidationError("value", "must not be empty")
        return raw
    return None


def secret_xml(uuid, usage_type, usage_name, description):
    root = ET.Element("secret", {"ephemeral": "no", "private": "no"})
    ET.SubElement(root, "uuid").text = uuid
    if description:
        ET.SubElement(root, "description").text = description
    usage = ET.SubElement(root, "usage", {"type": usage_type})
    ET.SubElement(usage, "name").text = usage_name
    return ET.tostring(root, encoding="unicode")


def _describe(sec):
    root = ET.fromstring(sec.XMLDesc(0))  # noqa: S314 - from libvirt
    return {
        "uuid": sec.UUIDString(),
        "usage_type": root.find("usage").get("type") if root.find("usage") is not None else None,
        "usage_name": root.findtext("usage/name"),
        "description": root.findtext("description"),
        "private": root.get("private") == "yes",
    }


def _find(conn, params):
    try:
        if params.get("uuid"):
            return conn.secretLookupByUUIDString(params["uuid"])
        return conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_CEPH, params["usage_name"])
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SECRET:
            return None
        raise EngineError(f"cannot look up the secret: {exc}") from exc


class SecretOperation(Operation):
    """``libvirt_secret`` for the runner: the value is decoded once, by ``validate``."""

    def __init__(self):
        super().__init__()
        self.raw = None

    def validate(self, params):
        self.raw = validate_params(params)

    def converge(self, session, params, check_mode):
        return converge(session.conn, params, self.raw, check_mode)


def converge(conn, params, raw, check_mode):
    sec = _find(conn, params)
    before = _describe(sec) if sec else {}
    actions = []
    if params["state"] == "absent":
        if sec:
            actions.append("undefine")
            if not check_mode:
                sec.undefine()
        return {"changed": bool(actions), "actions": actions, "secret": {}, "diff": make_diff(before, {})}
    uuid = params.get("uuid") or before.get("uuid") or secret_uuid("ceph", params["usage_name"])
    want = {
        "uuid": uuid,
        "usage_type": "ceph",
        "usage_name": params["usage_name"],
        "description": params.get("description") or before.get("description"),
        "private": False,
    }
    if sec and {k: before.get(k) for k in want} != want:
        actions.append("redefine")
    elif not sec:
        actions.append("define")
    value_differs = True
    if sec and not before.get("private"):
        try:
            value_differs = sec.value() != raw
        except libvirt.libvirtError:
            value_differs = True  # no value yet
    if value_differs:
        actions.append("set value")
    before_v = dict(before, value_set=True) if sec else {}
    after = dict(want, value_set=True)
    if value_differs and sec:
        before_v["value"] = "(old value, hidden)"
        after["value"] = "(new value, hidden)"
    if actions and not check_mode:
        if "define" in actions or "redefine" in actions:
            xml = secret_xml(uuid, "ceph", params["usage_name"], want["description"])
            sec = conn.secretDefineXML(xml)
        if value_differs:
            sec.setValue(raw)
    return {"changed": bool(actions), "actions": actions, "secret": want, "diff": make_diff(before_v, after)}
