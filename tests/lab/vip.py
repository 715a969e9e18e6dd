"""The lab's API through its VIP: HTTPS on 8443 with the CA that `playbooks/mgmt.yml` generated in
`.cache/lab/tls` (roles/mgmt_ha); plain HTTP on 8080 only redirects there."""

from __future__ import annotations

import ssl

from tests.harness import REPO

VIP = "10.89.10.100"
# This machine's address on the lab network (roles/lab: lab_gateway), where the tests' callback
# receivers listen; the lab's callback allow-list names it (inventories/lab/group_vars/lab.yml).
GATEWAY = "10.89.10.1"
# The lab's mgmt nodes (inventories/lab/cluster.yml), each a container of that name.
MGMT_NODES = ["scloud-node1", "scloud-node2", "scloud-node3"]
HTTPS_PORT = 8443
HTTP_PORT = 8080
URL = f"https://{VIP}:{HTTPS_PORT}"
PLAIN_URL = f"http://{VIP}:{HTTP_PORT}"
CA = REPO / ".cache" / "lab" / "tls" / "ca.crt"
TLS_FILES = [CA, CA.with_name("server.crt"), CA.with_name("server.key")]
# The CA and the server certificate on the controller after each site.yml run of the session's
# deployment (tests/lab/conftest.py: cloud_deployed).
TLS_SNAPSHOTS: list[list[bytes]] = []


def tls() -> ssl.SSLContext:
    """Verifies the VIP's certificate against the lab's CA only (not the system's), with the name.

    Built per call: the CA file exists once mgmt.yml ran, and a test may deploy it again."""
    return ssl.create_default_context(cafile=str(CA))
