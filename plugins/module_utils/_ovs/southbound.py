# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ovn_sb_chassis``: a chassis record of the OVN Southbound database.

ovn-controller registers its chassis itself (``Chassis``, its ``Encap`` tunnel endpoints and
``Chassis_Private``); a node taken out of the cloud leaves its record behind, and the other
chassis keep a tunnel to it. This removes it, in one transaction: the ``Chassis`` row (its
``Encap`` rows go with it), the ``Chassis_Private`` row of the same name; the ports bound to it
lose their binding (a weak reference). Stop the node's ovn-controller first, or it registers again.
"""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._ovs.chassis import CHASSIS_NAME_RE
from ansible_collections.scloud.stack.plugins.module_utils._ovs.ovsdb import Resource


class SbChassis(Resource):
    database = "OVN_Southbound"
    tables = {
        "Chassis": ["name", "hostname", "encaps"],
        "Chassis_Private": ["name", "chassis"],
        "Encap": ["type", "ip"],
    }
    result_key = "chassis"

    def validate(self):
        if not CHASSIS_NAME_RE.match(self.params["name"] or ""):
            raise ValidationError(
                "name",
                f"{self.params['name']!r} is not a chassis name (1 to 64 letters, "
                "digits, '.', '_' or '-', starting with a letter or digit)",
            )

    def read(self, session):
        name = self.params["name"]
        row = session.find_one("Chassis", name=name)
        private = session.find_one("Chassis_Private", name=name)
        if row is None and private is None:
            return None
        return {
            "name": name,
            "hostname": row.hostname if row is not None else None,
            "encaps": sorted(f"{e.type}:{e.ip}" for e in row.encaps) if row is not None else [],
            "private": private is not None,
        }

    def plan(self, session, current):
        if self.params["state"] != "absent":
            raise ValidationError("state", "only absent: ovn-controller registers its own chassis")
        return None

    def apply(self, session, txn, current, after):
        name = self.params["name"]
        row = session.find_one("Chassis", name=name)
        if row is not None:
            row.delete()  # its Encap rows are collected (not a root table)
        private = session.find_one("Chassis_Private", name=name)
        if private is not None:
            private.delete()

    def comment(self):
        return f"scloud.stack: ovn_sb_chassis {self.params['name']} absent"
