# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OVSDB connection options shared by every ``ovs_*`` and ``ovn_*`` module (``DOCUMENTATION``),
and the action group of each kind (``scloud.stack.ovsdb.ovs``, ``scloud.stack.ovsdb.ovn``)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ovsdb_remote:
    description:
      - The OVSDB server(s) to talk to, as OVSDB remotes (C(unix:PATH), C(tcp:IP:PORT), C(ssl:IP:PORT)).
      - Several remotes separated by commas name the members of a clustered (RAFT) database; the
        module talks to the leader.
      - Default for C(ovs_*) modules is the local Open vSwitch database
        C(unix:/var/run/openvswitch/db.sock); for C(ovn_*) modules the OVN Northbound database
        C(unix:/var/run/ovn/ovnnb_db.sock).
    type: str
  ovsdb_timeout:
    description:
      - Seconds allowed for connecting, reading, committing the transaction and (for C(ovs_*)
        modules) waiting for C(ovs-vswitchd) to apply it.
    type: int
    default: 30
  ovsdb_ssl_key:
    description: Private key for C(ssl:) remotes. Requires O(ovsdb_ssl_cert) and O(ovsdb_ssl_ca_cert).
    type: path
  ovsdb_ssl_cert:
    description: Certificate for C(ssl:) remotes.
    type: path
  ovsdb_ssl_ca_cert:
    description: CA certificate that signed the server's certificate, for C(ssl:) remotes.
    type: path
requirements:
  - The Open vSwitch Python IDL on the target (Debian package C(python3-openvswitch)).
notes:
  - One OVSDB session and one transaction per task. If another client changes the rows the task
    relies on between read and commit, the module reads again and re-plans (up to 5 times).
"""

    # The two kinds talk to different databases, so each has its own group for module_defaults.
    OVS = r"""
attributes:
  action_group:
    description:
      - Use C(group/scloud.stack.ovs) in C(module_defaults) to set the connection options of every
        module of the local Open vSwitch database (C(ovs_*), C(ovn_chassis)) once.
    support: full
    membership:
      - scloud.stack.ovs
"""

    OVN = r"""
attributes:
  action_group:
    description:
      - Use C(group/scloud.stack.ovn) in C(module_defaults) to set the connection options of every
        C(ovn_*) module (the OVN Northbound database, for example its RAFT cluster's remotes) once.
    support: full
    membership:
      - scloud.stack.ovn
"""

    OVN_SB = r"""
attributes:
  action_group:
    description:
      - Use C(group/scloud.stack.ovn_sb) in C(module_defaults) to set the connection options of every
        module of the OVN Southbound database (its RAFT cluster's remotes) once.
    support: full
    membership:
      - scloud.stack.ovn_sb
"""
