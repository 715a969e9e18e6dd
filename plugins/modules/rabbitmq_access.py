#!/usr/bin/python
# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rabbitmq_access
short_description: A client's access to RabbitMQ - vhost, user, password, tags, permissions
version_added: 0.1.0
description:
  - Makes one vhost exist, one user with the given password and tags, the user's permissions on the
    vhost, and removes the users listed in O(absent_users) (such as C(guest)).
  - Reads the broker first (C(rabbitmqctl) with JSON output) and changes only what differs. The
    password is compared with C(rabbitmqctl authenticate_user) and sent on C(rabbitmqctl)'s standard
    input, never in a command line; it never appears in the result or the diff.
extends_documentation_fragment:
  - scloud.stack.rabbitmq
options:
  vhost:
    description: The virtual host.
    type: str
    required: true
  user:
    description: The user.
    type: str
    required: true
  password:
    description: The user's password (at least 12 characters).
    type: str
    required: true
  tags:
    description: The user's tags (for example V(management)); the exact set.
    type: list
    elements: str
    default: []
  permissions:
    description:
      - Regular expressions of the resources the user may configure, write and read in O(vhost);
        a key left out is V(.*).
    type: dict
    default: {}
  absent_users:
    description: Users that must not exist (for example V(guest)). Must not hold O(user).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description:
      - Returns exactly the RV(actions) a real run performs; before the broker runs, predicts everything.
    support: full
  diff_mode:
    description: Vhosts, users with their tags and the user's permissions, before and after (no password).
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
author:
  - SCloudStack developers (@scloudstack)
"""

EXAMPLES = r"""
- name: The API's access to the broker, and no guest user
  scloud.stack.rabbitmq_access:
    vhost: scloud
    user: scloud
    password: "{{ scloud_broker_password }}"
    absent_users: [guest]
"""

RETURN = r"""
access:
  description: The access as converged (no password).
  returned: always
  type: dict
  sample: {vhost: scloud, user: scloud, tags: [], permissions: {configure: ".*", write: ".*", read: ".*"}}
actions:
  description:
    - What the task did or would do, for example C(add_vhost scloud), C(add_user scloud),
      C(change_password scloud), C(set_user_tags scloud), C(set_permissions scloud), C(delete_user guest).
  returned: always
  type: list
  elements: str
rabbitmqctl_calls:
  description: How many C(rabbitmqctl) commands the task ran.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.scloud.stack.plugins.module_utils._common.runner import Operation, run_module
from ansible_collections.scloud.stack.plugins.module_utils._rabbitmq import access
from ansible_collections.scloud.stack.plugins.module_utils._rabbitmq.ctl import RABBITMQ


def main():
    module = AnsibleModule(
        argument_spec=RABBITMQ.argument_spec(
            vhost={"type": "str", "required": True},
            user={"type": "str", "required": True},
            password={"type": "str", "required": True, "no_log": True},
            tags={"type": "list", "elements": "str", "default": []},
            permissions={"type": "dict", "default": {}},
            absent_users={"type": "list", "elements": "str", "default": []},
        ),
        supports_check_mode=True,
    )
    run_module(module, RABBITMQ, Operation(access.converge, validate=access.validate))


if __name__ == "__main__":
    main()
