#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovn_raft_member
short_description: This node's server in the RAFT cluster of an OVN database, kept or taken out
description:
  - Reads the membership of the local C(ovsdb-server) of O(database) through its control socket
    (C(cluster/status)) and, with O(state=absent), makes it leave the cluster (C(cluster/leave)),
    then waits until the other members have committed the new configuration and the server has
    dropped the database. Check mode reports what would change without leaving.
  - V(present) only checks that the server is a cluster member. A server joins when the
    C(ovn_central) role creates its database (C(ovsdb-tool join-cluster)); one that has left cannot
    join again with the same database.
  - Run it on the node whose server leaves, one node at a time (RAFT changes its membership one
    server at a time); C(remove_node.yml) does so for every leaving mgmt node.
version_added: 0.2.0
author:
  - SCloudStack developers (@scloudstack)
extends_documentation_fragment:
  - scloud.stack.attributes
options:
  database:
    description: The clustered database.
    type: str
    choices: [OVN_Northbound, OVN_Southbound]
    required: true
  state:
    description: Whether this server stays a member (V(present)) or leaves (V(absent)).
    type: str
    choices: [present, absent]
    default: present
  ctl:
    description:
      - Control socket of the database server.
      - Default C(/var/run/ovn/ovnnb_db.ctl) or C(/var/run/ovn/ovnsb_db.ctl).
    type: path
  timeout:
    description: Seconds to wait for a leave to complete.
    type: int
    default: 30
attributes:
  action_group:
    description: Use C(group/scloud.stack.ovn_raft) in C(module_defaults) to set O(ctl) and O(timeout).
    support: full
    membership:
      - scloud.stack.ovn_raft
requirements:
  - Debian's C(python3-openvswitch) on the target (the C(ovs.unixctl) client).
"""

EXAMPLES = r"""
- name: Take this node's Northbound server out of the cluster
  scloud.stack.ovn_raft_member:
    database: OVN_Northbound
    state: absent
"""

RETURN = r"""
member:
  description: The server's membership after the task (C(status) V(left) once it has left).
  returned: always
  type: dict
  sample:
    status: cluster member
    role: follower
    address: tcp:10.0.0.12:6643
    cluster_id: b6a4
    server_id: "7446"
    servers:
      - {sid: 0f82, address: "tcp:10.0.0.11:6643", self: false}
      - {sid: "7446", address: "tcp:10.0.0.12:6643", self: true}
ctl_calls:
  description: Control-socket requests the task made.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module
from ansible_collections.scloud.stack.plugins.module_utils._ovs import raft
from ansible_collections.scloud.stack.plugins.module_utils._ovs.raft import OVSDB_CTL


def main():
    module = AnsibleModule(
        argument_spec=OVSDB_CTL.argument_spec(
            database={"type": "str", "choices": ["OVN_Northbound", "OVN_Southbound"], "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        ),
        supports_check_mode=True,
    )
    run_module(module, OVSDB_CTL, Operation(raft.converge, validate=raft.validate_params))


if __name__ == "__main__":
    main()
