"""Session fixtures that start the real engines on this machine (DESIGN.md section 5).

Each engine lives in ``tests/integration/engines/<engine>.py``; its fixtures are imported here so
every integration test can ask for them by name: ``ovs``, ``ovn``, ``libvirt_host``, ``ceph_cluster``.
"""

from tests.integration.engines.ceph import *  # noqa: F403
from tests.integration.engines.libvirt import *  # noqa: F403
from tests.integration.engines.ovs import *  # noqa: F403
