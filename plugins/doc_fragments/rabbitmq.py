# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rabbitmqctl options shared by every RabbitMQ module (RABBITMQ_CONNECTION_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  node:
    description:
      - The broker node C(rabbitmqctl) talks to (its C(-n)), for example V(rabbit@mq1). Empty is the
        local node of the host the task runs on.
    type: str
  rabbitmqctl:
    description: Path of C(rabbitmqctl) on the target.
    type: path
    default: /usr/sbin/rabbitmqctl
attributes:
  action_group:
    description:
      - Use C(group/scloud.stack.rabbitmq) in C(module_defaults) to set O(node) of every RabbitMQ
        module once.
    support: full
    membership:
      - scloud.stack.rabbitmq
requirements:
  - C(rabbitmqctl) on the target (Debian package C(rabbitmq-server)), run by a user that holds the
    node's Erlang cookie (root).
"""
