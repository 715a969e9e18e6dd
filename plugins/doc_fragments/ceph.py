# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The connection options of every Ceph module (module_utils/_ceph/connection.py CEPH_CONNECTION_SPEC).
    DOCUMENTATION = r"""
options:
  cluster:
    description:
      - Name of the Ceph cluster; selects C(/etc/ceph/<cluster>.conf) when O(conf) is not given.
    type: str
    default: ceph
  conf:
    description:
      - Path of the C(ceph.conf) that locates the monitors.
      - Defaults to C(/etc/ceph/<cluster>.conf).
    type: path
  user:
    description:
      - Ceph user (without the C(client.) prefix) the module authenticates as.
    type: str
    default: admin
  keyring:
    description:
      - Path of the keyring holding the key of O(user).
      - Defaults to what the configuration file says, usually C(/etc/ceph/<cluster>.client.<user>.keyring).
    type: path
  timeout:
    description:
      - Seconds to wait for the connection and for each monitor command.
    type: int
    default: 30
attributes:
  action_group:
    description:
      - Use C(group/scloud.stack.ceph) in C(module_defaults) to set the connection options of every
        Ceph module once.
    support: full
    membership:
      - scloud.stack.ceph
requirements:
  - The Python binding C(rados) (Debian package C(python3-rados)) on the target.
notes:
  - One librados session per task; every read and write is a monitor command, no C(ceph) CLI process.
"""
