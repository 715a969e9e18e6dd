"""The HA management plane on the running lab (`make lab`): PostgreSQL, three API replicas, HAProxy
and a keepalived VIP, deployed with the whole cloud by `playbooks/site.yml` (what `make up` runs;
tests/lab/conftest.py: cloud_deployed); the VIP serves HTTPS with the CA the play
generated once (plain HTTP only redirects); then a VIP failover, measured.

The deployed release is a snapshot of the committed tree (`git archive HEAD`), so that engineers
editing the work tree meanwhile do not turn the idempotence check into a race. The lab is left as
found: every service running, keepalived started again on the node it was stopped on.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.harness import REPO, containers_running, node_exec, run_playbook
from tests.lab.vip import (
    CA,
    HTTP_PORT,
    HTTPS_PORT,
    MGMT_NODES,
    PLAIN_URL,
    TLS_FILES,
    TLS_SNAPSHOTS,
    URL,
    VIP,
    tls,
)

INVENTORY = str(REPO / "inventories" / "lab")
MGMT_ADDRESSES = ["10.89.10.11", "10.89.10.12", "10.89.10.13"]
ADMIN_KEY = REPO / ".cache" / "lab" / "admin.key"
FAILOVER_LIMIT = 5.0

pytestmark = pytest.mark.slow


_node = node_exec


def _vip_holders():
    return [
        n for n in MGMT_NODES if _node(n, "ip", "-4", "-o", "addr", "show", "to", f"{VIP}/32").stdout.strip()
    ]


def _lab_running():
    return containers_running(MGMT_NODES)


@pytest.fixture(scope="module")
def deployed(cloud_deployed):
    """site.yml twice on the lab (tests/lab/conftest.py, once per session); both runs."""
    return cloud_deployed


def test_second_run_changes_nothing(deployed):
    second, _ = deployed[1]
    changed = [
        (e["event_data"].get("host"), e["event_data"].get("task"))
        for e in second.events
        if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")
    ]
    assert second.changed_count() == 0, changed


def test_every_replica_and_the_vip_are_healthy(deployed):
    for node in MGMT_NODES:
        status = _node(node, "systemctl", "is-active", "scloud-api", "haproxy", "keepalived", check=False)
        assert status.stdout.split() == ["active"] * 3, (node, status.stdout)
    assert len(_vip_holders()) == 1
    health = httpx.get(f"{URL}/healthz", verify=tls(), timeout=5)
    assert health.status_code == 200 and health.json()["database"] == "ok"


def test_admin_key_through_the_vip(deployed):
    key = ADMIN_KEY.read_text().strip()
    assert ADMIN_KEY.stat().st_mode & 0o077 == 0
    r = httpx.get(f"{URL}/v1/playbooks", verify=tls(), headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["items"], r.text
    # The replicas share one database: every replica knows the key (HAProxy balances round-robin).
    nodes = set()
    for _ in range(6):
        r = httpx.get(
            f"{URL}/v1/playbooks", verify=tls(), headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert r.status_code == 200
        nodes.add(httpx.get(f"{URL}/healthz", verify=tls(), timeout=5).json()["node"])
    assert len(nodes) > 1, nodes
    assert httpx.get(f"{URL}/v1/playbooks", verify=tls(), timeout=5).status_code == 401


def _peer_certificate(address, server_hostname):
    """The certificate the TLS frontend at address shows, verified against the lab's CA for that name."""
    with (
        socket.create_connection((address, HTTPS_PORT), timeout=5) as raw,
        tls().wrap_socket(raw, server_hostname=server_hostname) as conn,
    ):
        return conn.getpeercert(), conn.version()


def test_vip_serves_https_with_the_generated_ca(deployed):
    """The certificate verifies against the generated CA for the VIP address and names every mgmt
    node; the CA was generated once (the second run kept it and the server certificate)."""
    assert len(TLS_SNAPSHOTS) == 2 and TLS_SNAPSHOTS[0] == TLS_SNAPSHOTS[1]
    assert CA.with_name("ca.key").stat().st_mode & 0o077 == 0
    assert CA.with_name("server.key").stat().st_mode & 0o077 == 0
    cert, version = _peer_certificate(VIP, VIP)
    assert version in ("TLSv1.2", "TLSv1.3"), version
    sans = set(cert["subjectAltName"])
    assert {("IP Address", VIP)} | {("IP Address", a) for a in MGMT_ADDRESSES} <= sans, sans
    assert {("DNS", n) for n in MGMT_NODES} <= sans, sans
    issuer = dict(rdn[0] for rdn in cert["issuer"])
    assert issuer["commonName"] == "SCloudStack API CA", issuer
    # Each node's own HAProxy serves the same certificate under the node's address.
    for address in MGMT_ADDRESSES:
        r = httpx.get(f"https://{address}:{HTTPS_PORT}/healthz", verify=tls(), timeout=5)
        assert r.status_code == 200, (address, r.text)
    # The check is real: a name the certificate does not hold, or the system's CAs only, fail.
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _peer_certificate(VIP, "api.example.com")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{URL}/healthz", verify=ssl.create_default_context(), timeout=5)
    # Every mgmt node holds the CA clients are given (the play checks the VIP with it).
    for node in MGMT_NODES:
        assert _node(node, "cat", "/etc/haproxy/scloud-api-ca.crt").stdout.strip() == CA.read_text().strip()


def test_plain_http_is_redirected_to_https(deployed):
    """Port 8080 answers 308 to the same host on the HTTPS port, method and body kept; nothing
    reaches a replica over plain HTTP (no 401 without a key, no job created)."""
    for method, path in (("GET", "/v1/playbooks?limit=1"), ("POST", "/v1/jobs"), ("GET", "/healthz")):
        r = httpx.request(method, f"{PLAIN_URL}{path}", json={} if method == "POST" else None, timeout=5)
        assert r.status_code == 308, (method, path, r.status_code, r.text)
        assert r.headers["location"] == f"{URL}{path}", r.headers
    # Through a node's address, the redirect keeps that address (which the certificate names).
    r = httpx.get(f"http://{MGMT_ADDRESSES[1]}:{HTTP_PORT}/healthz", timeout=5)
    assert (
        r.status_code == 308 and r.headers["location"] == f"https://{MGMT_ADDRESSES[1]}:{HTTPS_PORT}/healthz"
    )
    # HTTP/1.0 without a Host header: to the VIP.
    with socket.create_connection((VIP, HTTP_PORT), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        head = conn.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.0 308") or head.startswith("HTTP/1.1 308"), head
    assert f"location: {URL}/healthz\r\n" in head.lower(), head
    # A client that follows it with the CA lands on the API over HTTPS.
    r = httpx.get(f"{PLAIN_URL}/healthz", verify=tls(), follow_redirects=True, timeout=5)
    assert r.status_code == 200 and r.url.scheme == "https" and r.json()["database"] == "ok"


def test_api_key_over_https_through_the_vip(deployed):
    """An authenticated call over HTTPS through the VIP: the key works, and without it 401."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}
    with httpx.Client(base_url=URL, verify=tls(), timeout=10) as client:
        r = client.get("/v1/playbooks", headers=headers)
        assert r.status_code == 200, r.text
        assert r.url.scheme == "https"
        assert "diagnostics" in {p["name"] for p in r.json()["items"]}, r.text
        assert client.get("/v1/playbooks").status_code == 401


def test_job_runs_on_a_replica_through_the_vip(deployed):
    """A job submitted through the VIP runs on a replica, against every lab node, with the lab key."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY.read_text().strip()}"}
    r = httpx.post(
        f"{URL}/v1/jobs",
        verify=tls(),
        headers=headers,
        timeout=10,
        json={"playbook": "diagnostics", "extra_vars": {"diagnostics_command": ["hostname"]}},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = httpx.get(f"{URL}/v1/jobs/{job_id}", verify=tls(), headers=headers, timeout=10).json()
        if job["status"] in ("successful", "failed", "error", "timeout", "canceled"):
            break
        time.sleep(1)
    assert job["status"] == "successful", job
    assert sorted(job["stats"]["ok"]) == MGMT_NODES


def test_vip_moves_when_keepalived_stops(deployed):
    [holder] = _vip_holders()
    try:
        start = time.monotonic()
        _node(holder, "systemctl", "stop", "keepalived.service")
        elapsed = None
        while time.monotonic() - start < 30:
            try:
                if httpx.get(f"{URL}/healthz", verify=tls(), timeout=0.5).status_code == 200:
                    new = _vip_holders()
                    if new and holder not in new:
                        elapsed = time.monotonic() - start
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        new = _vip_holders()
        print(
            f"\nVIP failover {holder} -> {new}: answered again after "
            f"{elapsed if elapsed is None else round(elapsed, 3)} s"
        )
        assert elapsed is not None, "the VIP did not answer from another node within 30 s"
        assert elapsed < FAILOVER_LIMIT
        assert len(new) == 1 and new[0] != holder
        key = ADMIN_KEY.read_text().strip()
        r = httpx.get(
            f"{URL}/v1/playbooks", verify=tls(), headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert r.status_code == 200
    finally:
        _node(holder, "systemctl", "start", "keepalived.service")
    # Back as it was: keepalived everywhere, nopreempt keeps the VIP where it went.
    time.sleep(3)
    state = _node(holder, "systemctl", "is-active", "keepalived.service", check=False).stdout.strip()
    assert state == "active"
    assert len(_vip_holders()) == 1
    assert httpx.get(f"{URL}/healthz", verify=tls(), timeout=5).status_code == 200


def _mac(node):
    return _node(node, "cat", "/sys/class/net/eth0/address").stdout.strip()


def _vip_mac_seen_from_host():
    out = subprocess.run(["ip", "neigh", "show", VIP], capture_output=True, text=True).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def test_vip_moves_when_the_holder_hangs(deployed):
    """keepalived frozen on the holder (no priority-0 advert, the VIP stays configured there): the
    others take the VIP after the VRRP master-down interval and the host follows their ARP."""
    [holder] = _vip_holders()
    old_mac = _mac(holder)
    try:
        start = time.monotonic()
        _node(holder, "systemctl", "kill", "--signal=SIGSTOP", "keepalived.service")
        elapsed = None
        while time.monotonic() - start < 30:
            mac = _vip_mac_seen_from_host()
            try:
                ok = httpx.get(f"{URL}/healthz", verify=tls(), timeout=0.5).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok and mac is not None and mac != old_mac:
                elapsed = time.monotonic() - start
                break
            time.sleep(0.05)
        print(
            f"\nVIP failover, {holder} hung: answered from {_vip_mac_seen_from_host()} after "
            f"{elapsed if elapsed is None else round(elapsed, 3)} s"
        )
        assert elapsed is not None, "the VIP did not answer from another node within 30 s"
        assert elapsed < FAILOVER_LIMIT
    finally:
        _node(holder, "systemctl", "kill", "--signal=SIGCONT", "keepalived.service")
    # VRRP settles on one holder again once the frozen node hears the others.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(_vip_holders()) != 1:
        time.sleep(0.5)
    assert len(_vip_holders()) == 1
    assert httpx.get(f"{URL}/healthz", verify=tls(), timeout=5).status_code == 200


def test_bad_vip_is_refused_before_anything_changes(deployed):
    """A VIP outside the node subnet fails in the prechecks, naming the option and the rule."""
    before = Path(ADMIN_KEY).read_text()
    run = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY, extra_vars={"mgmt_ha_vip": "192.0.2.10"})
    assert not run.ok
    assert run.changed_count() == 0
    msgs = " ".join(
        e["event_data"]["res"].get("msg", "") for e in run.events if e.get("event") == "runner_on_failed"
    )
    assert "mgmt_ha_vip" in msgs and "must be a host address" in msgs, msgs
    assert Path(ADMIN_KEY).read_text() == before


def _operator_pki(directory, names):
    """An operator's CA and server certificate (what a company CA would issue), written as PEM
    files in directory; plus a stray key. Returns the paths."""
    now = datetime.datetime.now(datetime.UTC)

    def pem_key(key):
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def issue(subject_cn, issuer_name, signer, public_key, ca, sans=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(issuer_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            alt = [
                x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in sans
            ]
            usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False).add_extension(
                usage, critical=False
            )
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key, server_key, stray_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Operator Test CA")])
    files = {
        "ca.crt": issue("Operator Test CA", ca_name, ca_key, ca_key.public_key(), True),
        "server.crt": issue(names[0], ca_name, ca_key, server_key.public_key(), False, names),
        "server.key": pem_key(server_key),
        "stray.key": pem_key(stray_key),
        "no-vip.crt": issue(
            "api.example.com", ca_name, ca_key, server_key.public_key(), False, ["api.example.com"]
        ),
    }
    paths = {}
    for name, data in files.items():
        (directory / name).write_bytes(data)
        (directory / name).chmod(0o600)
        paths[name] = str(directory / name)
    return paths


def _failure_messages(run):
    return " ".join(
        " ".join(e["event_data"]["res"].get("msg", "").split())
        for e in run.events
        if e.get("event") == "runner_on_failed"
    )


def test_operator_certificate_replaces_the_generated_one_and_back(deployed, cloud_release, tmp_path):
    """The operator's files: refused before anything changes when the key is not the certificate's
    or the certificate does not name the VIP; served at the VIP when right; then back to the
    generated CA, which was kept as it was."""
    pki = _operator_pki(tmp_path, [VIP, *MGMT_NODES, *MGMT_ADDRESSES])
    release = {"mgmt_api_source_dir": cloud_release}
    for cert, key, message in (
        (
            pki["server.crt"],
            pki["stray.key"],
            f"mgmt_ha_tls_key: {pki['stray.key']} is not the key of mgmt_ha_tls_cert",
        ),
        (
            pki["no-vip.crt"],
            pki["server.key"],
            f"mgmt_ha_tls_cert: {pki['no-vip.crt']} must name the VIP, IP:{VIP}, in its subject alternative",
        ),
        (pki["server.crt"], "", "mgmt_ha_tls_cert and mgmt_ha_tls_key: set both"),
    ):
        run = run_playbook(
            "playbooks/mgmt.yml",
            inventory=INVENTORY,
            extra_vars={
                **release,
                "mgmt_ha_tls_cert": cert,
                "mgmt_ha_tls_key": key,
                "mgmt_ha_tls_ca": pki["ca.crt"],
            },
        )
        assert not run.ok and run.changed_count() == 0, run.stdout[-3000:]
        assert message in _failure_messages(run), _failure_messages(run)
    operator_tls = ssl.create_default_context(cafile=pki["ca.crt"])
    try:
        run = run_playbook(
            "playbooks/mgmt.yml",
            inventory=INVENTORY,
            extra_vars={
                **release,
                "mgmt_ha_tls_cert": pki["server.crt"],
                "mgmt_ha_tls_key": pki["server.key"],
                "mgmt_ha_tls_ca": pki["ca.crt"],
            },
        )
        assert run.ok, run.stdout[-6000:]
        assert httpx.get(f"{URL}/healthz", verify=operator_tls, timeout=5).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{URL}/healthz", verify=tls(), timeout=5)
        for node in MGMT_NODES:
            ca = _node(node, "cat", "/etc/haproxy/scloud-api-ca.crt").stdout
            assert ca == Path(pki["ca.crt"]).read_text(), node
    finally:
        back = run_playbook("playbooks/mgmt.yml", inventory=INVENTORY, extra_vars=release)
    assert back.ok, back.stdout[-6000:]
    assert [f.read_bytes() for f in TLS_FILES] == TLS_SNAPSHOTS[-1]
    assert httpx.get(f"{URL}/healthz", verify=tls(), timeout=5).status_code == 200
